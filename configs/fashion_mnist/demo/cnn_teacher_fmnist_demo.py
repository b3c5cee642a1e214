# The demo's teacher, small enough to train in about 2 minutes on 2 cores: a 3-stage CNN (two 3x3
# conv-BN-ReLU per stage, 16/32/64 channels, 0.07 M parameters), 3 epochs on all labels.
_base_ = ['../cnn_student_fmnist.py']
model = dict(channels=(16, 32, 64), convs_per_stage=2)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=0.5,
                        convert_to_iter_based=True),
                   dict(type='CosineAnnealingLR', T_max=2.5, by_epoch=True, begin=0.5, end=3,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=3)
