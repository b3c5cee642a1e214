# Does a pretrained teacher teach better? EfficientNet-Lite0 with its real ImageNet weights and a
# linear-probe head on Fashion-MNIST, against protocol (a)'s ResNet trained from scratch here:
# each teacher's accuracy, and the same 1.7 k-parameter student distilled from each (Hinton KD,
# T=4, 20 epochs, 3 seeds, cached teachers). The ResNet, scratch and ResNet-KD runs are protocol
# (a)'s (configs/experiments/fashion_mnist_methods.py), reused from its work dirs.
work_dir = 'work_dirs/experiments/fashion_mnist_pretrained_teacher'
metric = 'accuracy/top1'
seeds = [0, 1, 2]
methods = 'work_dirs/experiments/fashion_mnist_methods'
teacher_run = 'teacher (EfficientNet-Lite0 probe)'
runs = [
    dict(name='teacher (ResNet, from scratch)',
         config='configs/fashion_mnist/resnet_teacher_fmnist.py',
         work_dir='work_dirs/fashion_mnist/resnet_teacher', reuse=True, seeds=None),
    dict(name=teacher_run, config='configs/fashion_mnist/effnet_probe_fmnist.py',
         work_dir='work_dirs/fashion_mnist/effnet_probe', reuse=True, seeds=None),
    dict(name='scratch', config='configs/fashion_mnist/cnn_student_fmnist.py',
         work_dir=f'{methods}/scratch', reuse=True),
    dict(name='KD from the ResNet', config='configs/fashion_mnist/kd_cnn_fmnist.py',
         work_dir=f'{methods}/KD', teacher_from='teacher (ResNet, from scratch)', reuse=True),
    dict(name='KD from the EfficientNet', config='configs/fashion_mnist/kd_effnet_cnn_fmnist.py',
         teacher_from=teacher_run, reuse=True),
]
