# Shared by the digits distillation configs: the student, the frozen teacher and the recorders.
_base_ = ['./default_runtime.py', './datasets/digits.py', './schedules/digits_30e.py']
teacher_cfg = dict(type='ConvClassifier', channels=(32, 64, 128), convs_per_stage=2)
student_cfg = dict(type='ConvClassifier', channels=(4, 8), convs_per_stage=1)
# Written by `python tools/train.py configs/digits/cnn_teacher_digits.py`.
teacher_checkpoint = 'work_dirs/cnn_teacher_digits/epoch_30.pth'
model = dict(
    type='Distill',
    student=student_cfg,
    teachers=dict(teacher=dict(model=teacher_cfg, checkpoint=teacher_checkpoint)),
    distiller=dict(
        recorders=dict(student=dict(logits='head'), teacher=dict(logits='head')),
        losses=dict()))
