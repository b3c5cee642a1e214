# The CLIP -> 3D teacher: a tiny CLIP (configs/_base_/models/clip_shapes.py) trained with the CLIP
# loss on captioned depth views of the synthetic shapes. Its zero-shot top-1 on the test shapes'
# views is the reference of the point students. 14 min here (3.3 min of CPU) on 2 cores shared
# with other training jobs.
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/shape_view_captions.py',
          '../_base_/models/clip_shapes.py']
model = dict(type='OpenCLIPModel', model_cfg={{_base_.shapes_clip}},
             zero_shot={{_base_.zero_shot}})
# AdamW, 2 epochs of linear warm-up then cosine decay, 30 epochs of 15 iterations (batch 64)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1),
                     clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2,
                        convert_to_iter_based=True),
                   dict(type='CosineAnnealingLR', T_max=28, by_epoch=True, begin=2, end=30,
                        convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=5)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(interval=5))
