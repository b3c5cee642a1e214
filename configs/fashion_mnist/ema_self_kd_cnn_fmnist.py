# Self-distillation from the student's own exponential moving average (mean teacher): KD at T=4
# from the EMA weights (momentum 0.999). No external teacher.
_base_ = ['../_base_/fashion_mnist.py', '../_base_/schedules/fashion_mnist_student_20e.py']
model = dict(
    type='Distill',
    student=dict(type='ConvClassifier', channels=(4, 8, 16), convs_per_stage=1),
    teachers=dict(ema=dict(ema_of_student=True, momentum=0.999)),
    distiller=dict(
        recorders=dict(student=dict(logits='head'), ema=dict(logits='head')),
        losses=dict(loss_kd=dict(type='KDLoss', temperature=4.0, inputs=dict(
            student_logits='student.logits', teacher_logits='ema.logits')))))
