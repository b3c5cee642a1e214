# Protocol (b), label-scarce transfer set: the student has labels for 1 % (or 10 %) of the 55 000
# training images and the teacher's cached soft outputs on all of them. Against the same student
# trained alone on the same labelled subset, and trained alone on all labels (the scratch run of
# fashion_mnist_methods.py, reused when it is there). 3 seeds; best-validation and last epoch.
work_dir = 'work_dirs/experiments/fashion_mnist_label_scarce'
metric = 'accuracy/top1'
seeds = [0, 1, 2]
runs = [
    dict(name='teacher', config='configs/fashion_mnist/resnet_teacher_fmnist.py',
         work_dir='work_dirs/fashion_mnist/resnet_teacher', reuse=True, seeds=None),
    dict(name='scratch (all labels)', config='configs/fashion_mnist/cnn_student_fmnist.py',
         work_dir='work_dirs/experiments/fashion_mnist_methods/scratch', reuse=True),
    dict(name='scratch (10 % labels)', config='configs/fashion_mnist/cnn_student_fmnist_10pct.py',
         reuse=True),
    dict(name='KD (10 % labels)', config='configs/fashion_mnist/kd_cnn_fmnist_10pct.py',
         teacher_from='teacher', reuse=True),
    dict(name='scratch (1 % labels)', config='configs/fashion_mnist/cnn_student_fmnist_1pct.py',
         reuse=True),
    dict(name='KD (1 % labels)', config='configs/fashion_mnist/kd_cnn_fmnist_1pct.py',
         teacher_from='teacher', reuse=True),
]
scratch_run = 'scratch (all labels)'
