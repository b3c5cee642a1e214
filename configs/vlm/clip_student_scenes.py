# The student trained alone ("scratch") with the CLIP loss.
_base_ = ['../_base_/scenes.py', '../_base_/schedules/scenes_3e.py',
          '../_base_/models/clip_scenes.py']
model = dict(type='OpenCLIPModel', model_cfg={{_base_.student_clip}},
             zero_shot={{_base_.zero_shot}})
