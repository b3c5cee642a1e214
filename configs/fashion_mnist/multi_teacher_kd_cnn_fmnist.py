# Multi-teacher KD: the average of the softened outputs (T=4) of two teachers of different width
# and depth, the 1.2 M-parameter ResNet and the 0.07 M-parameter CNN of the demo
# (demo/cnn_teacher_fmnist_demo.py), both from one teacher-output cache.
_base_ = ['../_base_/fashion_mnist_distill_cached.py']
teacher_cache_dir = 'work_dirs/teacher_cache/fashion_mnist_resnet_and_cnn'
model = dict(
    teachers=dict(teacher2=dict(
        model=dict(type='ConvClassifier', channels=(16, 32, 64), convs_per_stage=2),
        checkpoint='work_dirs/fashion_mnist/demo_teacher/epoch_3.pth')),
    teacher_cache=dict(path=teacher_cache_dir),
    distiller=dict(
        recorders=dict(teacher2=dict(logits='head')),
        losses=dict(loss_mtkd=dict(type='MultiTeacherKDLoss', temperature=4.0, inputs=dict(
            student_logits='student.logits',
            teacher_logits=['teacher.logits', 'teacher2.logits'])))))
train_dataloader = dict(dataset=dict(path=teacher_cache_dir))
