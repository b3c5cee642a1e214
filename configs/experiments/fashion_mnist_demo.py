# `make demo`: knowledge distillation where it is used every day, on real Fashion-MNIST. A strong
# model exists (a CNN teacher trained on all labels), labels are scarce (1 % of the training
# images: 550), unlabelled images are plentiful (the other 54 450). The student learns from the
# teacher's cached soft outputs on all of them, against the same student trained alone on the 550
# labelled images. 3 seeds each; the test set is only read for the final figures (the epoch is
# chosen on the validation split). About 7 minutes on 2 cores, teacher included; the teacher in
# work_dirs/fashion_mnist/demo_teacher is reused on a second run.
work_dir = 'work_dirs/experiments/fashion_mnist_demo'
metric = 'accuracy/top1'
seeds = [0, 1, 2]
runs = [
    dict(name='teacher', config='configs/fashion_mnist/demo/cnn_teacher_fmnist_demo.py',
         work_dir='work_dirs/fashion_mnist/demo_teacher', reuse=True, seeds=None),
    dict(name='scratch (1 % labels)',
         config='configs/fashion_mnist/demo/cnn_student_fmnist_1pct_demo.py'),
    dict(name='KD (1 % labels + transfer set)',
         config='configs/fashion_mnist/demo/kd_cnn_fmnist_1pct_demo.py', teacher_from='teacher'),
]
scratch_run = 'scratch (1 % labels)'
