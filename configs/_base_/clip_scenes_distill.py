# Shared by the CLIP distillation configs on the synthetic scenes: the frozen CLIP teacher, the
# student (which keeps its own CLIP loss), the recorders and connectors. The student's 64-d
# embeddings reach the teacher's 128-d space through linear connectors where a loss compares
# them directly (FD, MFD, GD, ICL).
_base_ = ['./scenes.py', './schedules/scenes_3e.py', './models/clip_scenes.py']
# Written by `python tools/train.py configs/vlm/clip_teacher_scenes.py`.
teacher_checkpoint = 'work_dirs/clip_teacher_scenes/epoch_6.pth'
recorders = dict(image='image_embed', text='text_embed', scale='logit_scale_out')
model = dict(
    type='Distill',
    student=dict(type='OpenCLIPModel', model_cfg={{_base_.student_clip}},
                 zero_shot={{_base_.zero_shot}}),
    teachers=dict(teacher=dict(
        model=dict(type='OpenCLIPModel', model_cfg={{_base_.teacher_clip}}),
        checkpoint=teacher_checkpoint)),
    distiller=dict(
        recorders=dict(student=recorders, teacher=recorders),
        connectors=dict(image_s=dict(type='LinearConnector', in_channels=64, out_channels=128),
                        text_s=dict(type='LinearConnector', in_channels=64, out_channels=128)),
        losses=dict()))
