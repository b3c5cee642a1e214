# The student trained alone on the 10 % labelled subset (5500 images, stratified with
# labelled_seed=0): 200 epochs of 43 iterations (8600 iterations, the budget of 20 epochs of the
# full set), validation and checkpoints every 5 epochs.
_base_ = ['./cnn_student_fmnist.py']
train_dataloader = dict(dataset=dict(labelled_fraction=0.1, subset='labelled'))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=10,
                        convert_to_iter_based=True),
                   dict(type='CosineAnnealingLR', T_max=190, by_epoch=True, begin=10, end=200,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=200, val_interval=5)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=5))
