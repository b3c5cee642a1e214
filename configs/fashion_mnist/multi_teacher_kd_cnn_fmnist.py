# Multi-teacher KD: the average of the softened outputs of the 1.2 M ResNet and a half-width
# ResNet (resnet_small_teacher_fmnist.py, trained with --work-dir
# work_dirs/fashion_mnist/resnet_small_teacher), both from one teacher-output cache.
_base_ = ['../_base_/fashion_mnist_distill_cached.py']
teacher_cache_dir = 'work_dirs/teacher_cache/fashion_mnist_two_resnets'
model = dict(
    teachers=dict(teacher2=dict(
        model=dict(type='ResNetClassifier', channels=(16, 32, 64, 128), blocks=1),
        checkpoint='work_dirs/fashion_mnist/resnet_small_teacher/epoch_15.pth')),
    teacher_cache=dict(path=teacher_cache_dir),
    distiller=dict(
        recorders=dict(teacher2=dict(logits='head')),
        losses=dict(loss_mtkd=dict(type='MultiTeacherKDLoss', temperature=4.0, inputs=dict(
            student_logits='student.logits',
            teacher_logits=['teacher.logits', 'teacher2.logits'])))))
train_dataloader = dict(dataset=dict(path=teacher_cache_dir))
