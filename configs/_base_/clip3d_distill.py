# Shared by the CLIP -> 3D (ULIP-style) configs: a ULIPPointEncoder student (PointNet at 1/4
# width, 26 k parameters, projected to the CLIP teacher's 64-d space) on 512 points of each shape,
# and the frozen CLIP teacher (configs/crossmodal/clip_teacher_shapes.py) reading the rendered
# view and caption of the same points from data_samples['clip_inputs']. The student's zero-shot
# classifier is the frozen teacher text tower's embedding of the class prompts; its own
# supervised loss (labels through that classifier) is off (student_loss_weight=0) unless a
# config turns it on, so the students learn from the teacher's embeddings only.
_base_ = ['./default_runtime.py', './datasets/shape_view_captions.py',
          './models/clip_shapes.py', './schedules/shapes_30e.py']
train_dataloader = dict(dataset=dict(inputs='points'))
val_dataloader = dict(dataset=dict(inputs='points'))
test_dataloader = dict(dataset=dict(inputs='points'))
# Written by `python tools/train.py configs/crossmodal/clip_teacher_shapes.py` (the experiment
# configs/experiments/crossmodal_clip3d.py points both uses at its own teacher run).
teacher_checkpoint = 'work_dirs/clip_teacher_shapes/epoch_30.pth'
clip_model = dict(type='OpenCLIPModel', model_cfg={{_base_.shapes_clip}})
text_encoder = dict(type='OpenCLIPModel', model_cfg={{_base_.shapes_clip}},
                    pretrained=teacher_checkpoint)
model = dict(
    type='Distill',
    student=dict(type='ULIPPointEncoder', embed_dim=64,
                 backbone=dict(type='PointNetClassifier', num_classes=1, width=0.25),
                 text_encoder=text_encoder,
                 zero_shot={{_base_.zero_shot}}),
    teachers=dict(clip=dict(model=clip_model, checkpoint=teacher_checkpoint,
                            inputs='batch.clip_inputs')),
    student_loss_weight=0.0,
    distiller=dict(
        recorders=dict(student=dict(point='point_embed'),
                       clip=dict(text='text_embed', image='image_embed')),
        losses=dict()))
# Adam with a cosine decay over 30 epochs (15 iterations each at batch 64)
default_hooks = dict(logger=dict(interval=5))
