# The demo's baseline: the student alone on the same 1 % labelled subset (550 images), 300 epochs
# of 5 iterations (1500 iterations, 300 passes over its labels), validation and checkpoints every
# 25 epochs.
_base_ = ['../cnn_student_fmnist_1pct.py']
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=15,
                        convert_to_iter_based=True),
                   dict(type='CosineAnnealingLR', T_max=285, by_epoch=True, begin=15, end=300,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=300)
