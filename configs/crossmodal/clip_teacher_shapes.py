# The CLIP -> 3D teacher: a tiny CLIP (configs/_base_/models/clip_shapes.py) trained with the CLIP
# loss on captioned depth views of the synthetic shapes. Its zero-shot top-1 on the test shapes'
# views is the reference of the point students. 14 min here (3.3 min of CPU) on 2 cores shared
# with other training jobs.
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/shape_view_captions.py',
          '../_base_/models/clip_shapes.py', '../_base_/schedules/clip_shapes_30e.py']
model = dict(type='OpenCLIPModel', model_cfg={{_base_.shapes_clip}},
             zero_shot={{_base_.zero_shot}})
default_hooks = dict(logger=dict(interval=5))
