# The student trained alone on the 1 % labelled subset (550 images, 55 per class, stratified with
# labelled_seed=0): 1000 epochs of 5 iterations (5000 iterations, 0.6 of the 20-epoch budget of
# the full set), validation and checkpoints every 25 epochs.
_base_ = ['./cnn_student_fmnist.py']
train_dataloader = dict(dataset=dict(labelled_fraction=0.01, subset='labelled'))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=50,
                        convert_to_iter_based=True),
                   dict(type='CosineAnnealingLR', T_max=950, by_epoch=True, begin=50, end=1000,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=1000, val_interval=25)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=25))
