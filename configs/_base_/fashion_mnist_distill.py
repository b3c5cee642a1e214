# Shared by the Fashion-MNIST distillation configs: the 1.7 k-parameter CNN student, the frozen
# 1.2 M-parameter ResNet teacher (run live on every batch) and the recorders of both: the logits
# and the pooled feature (student 16-d, teacher 256-d). Methods that need the teachers' feature
# maps (FitNets, AT) use this; the others use the cached teacher of fashion_mnist_distill_cached.py.
_base_ = ['./fashion_mnist.py', './schedules/fashion_mnist_student_20e.py']
teacher_cfg = dict(type='ResNetClassifier', channels=(16, 64, 128, 256), blocks=1)
student_cfg = dict(type='ConvClassifier', channels=(4, 8, 16), convs_per_stage=1)
# Written by `python tools/train.py configs/fashion_mnist/resnet_teacher_fmnist.py --work-dir
# work_dirs/fashion_mnist/resnet_teacher` (the experiments point here too).
teacher_checkpoint = 'work_dirs/fashion_mnist/resnet_teacher/epoch_15.pth'
feat_inputs = dict(student_feats='student.feat', teacher_feats='teacher.feat')
model = dict(
    type='Distill',
    student=student_cfg,
    teachers=dict(teacher=dict(model=teacher_cfg, checkpoint=teacher_checkpoint)),
    distiller=dict(
        recorders=dict(student=dict(logits='head', feat='pool'),
                       teacher=dict(logits='head', feat='pool')),
        losses=dict()))
