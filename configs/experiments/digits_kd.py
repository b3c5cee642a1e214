# The embedded default experiment: a CNN teacher distilled into a 438-parameter CNN student on
# scikit-learn's 8x8 digits, by KD, DKD, DIST and FitNets. `make demo` runs it.
work_dir = 'work_dirs/experiments/digits_kd'
metric = 'accuracy/top1'
# every student is trained with 3 seeds (single runs differ by several points); the teacher once
seeds = [0, 1, 2]
runs = [
    dict(name='teacher', config='configs/digits/cnn_teacher_digits.py', reuse=True, seeds=None),
    dict(name='scratch', config='configs/digits/cnn_student_digits.py'),
    dict(name='KD', config='configs/digits/kd_cnn_digits.py', teacher_from='teacher'),
]
runs += [
    dict(name='DKD', config='configs/digits/dkd_cnn_digits.py', teacher_from='teacher'),
    dict(name='DIST', config='configs/digits/dist_cnn_digits.py', teacher_from='teacher'),
    dict(name='FitNets+KD', config='configs/digits/fitnet_cnn_digits.py', teacher_from='teacher'),
]
