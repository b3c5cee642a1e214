# Protocol (c), patient and consistent function matching: the student matches the teacher on the
# very same aggressively augmented images (mixup/cutmix), from 8 cached teacher outputs per image,
# for 60 epochs; against the student trained alone for 20 and for 60 epochs, and standard KD at
# 20 epochs, and function matching without the mixing (an ablation). gap_closed.png draws the
# validation gap closed per epoch. 3 seeds.
work_dir = 'work_dirs/experiments/fashion_mnist_patient'
metric = 'accuracy/top1'
seeds = [0, 1, 2]
gap_curves = True
runs = [
    dict(name='teacher', config='configs/fashion_mnist/resnet_teacher_fmnist.py',
         work_dir='work_dirs/fashion_mnist/resnet_teacher', reuse=True, seeds=None),
    dict(name='scratch', config='configs/fashion_mnist/cnn_student_fmnist.py',
         work_dir='work_dirs/experiments/fashion_mnist_methods/scratch', reuse=True),
    dict(name='scratch (60 epochs)', config='configs/fashion_mnist/cnn_student_fmnist_60e.py',
         reuse=True),
    dict(name='KD (20 epochs)', config='configs/fashion_mnist/kd_cnn_fmnist.py',
         work_dir='work_dirs/experiments/fashion_mnist_methods/KD', teacher_from='teacher',
         reuse=True),
    dict(name='function matching (60 epochs)',
         config='configs/fashion_mnist/funmatch_cnn_fmnist.py', teacher_from='teacher',
         reuse=True),
    # the ablation, one seed: the same objective and schedule without mixup/cutmix
    dict(name='function matching without mixing (60 epochs)',
         config='configs/fashion_mnist/funmatch_nomix_cnn_fmnist.py', teacher_from='teacher',
         reuse=True, seeds=[0]),
]
