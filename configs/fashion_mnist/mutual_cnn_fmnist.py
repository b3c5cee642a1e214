# Deep mutual learning (Zhang et al. 2018): two students of the same architecture train together
# from scratch, each with cross-entropy + KL to the other's prediction (T=1). No teacher.
_base_ = ['../_base_/fashion_mnist.py', '../_base_/schedules/fashion_mnist_student_20e.py']
student_cfg = dict(type='ConvClassifier', channels=(4, 8, 16), convs_per_stage=1)
model = dict(
    type='MutualLearning', predict_with='a',
    students=dict(a=student_cfg, b=student_cfg),
    distiller=dict(
        recorders=dict(a=dict(logits='head'), b=dict(logits='head')),
        losses=dict(
            loss_a_from_b=dict(type='KDLoss', temperature=1.0,
                               inputs=dict(student_logits='a.logits', teacher_logits='b.logits')),
            loss_b_from_a=dict(type='KDLoss', temperature=1.0,
                               inputs=dict(student_logits='b.logits', teacher_logits='a.logits')))))
