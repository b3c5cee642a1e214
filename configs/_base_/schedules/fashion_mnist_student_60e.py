# The patient budget: the students' schedule (fashion_mnist_student_20e.py) stretched to 60 epochs.
_base_ = ['./fashion_mnist_student_20e.py']
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
                        convert_to_iter_based=True),
                   dict(type='CosineAnnealingLR', T_max=59, by_epoch=True, begin=1, end=60,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=60)
