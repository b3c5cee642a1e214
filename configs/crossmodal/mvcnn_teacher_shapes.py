# The 2D -> 3D image teacher: an MVCNN (a 3-stage CNN shared by the views, max over the views,
# 24 k parameters) trained alone on 6 depth views of 32 px of each shape (from 1024 points):
# 60 epochs at Adam 2e-3 (at 20 epochs and 1e-3 it underfit: 67.5 % top-1, training loss 1.1).
# About 6 min here on 2 cores shared with other jobs (OMP_NUM_THREADS=1).
_base_ = ['../_base_/shapes_views.py']
model = dict(type='MultiViewImageClassifier', channels=(16, 32, 64), num_classes=12)
# the views are its inputs (the distillation runs give it data_samples['views'] instead)
train_dataloader = dict(dataset=dict(inputs='views', return_pixels=False))
val_dataloader = dict(dataset=dict(inputs='views', return_pixels=False))
test_dataloader = dict(dataset=dict(inputs='views', return_pixels=False))
max_epochs = 60
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
