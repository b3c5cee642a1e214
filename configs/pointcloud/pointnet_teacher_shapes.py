# PointNet teacher on the synthetic shapes (about 0.8 M parameters).
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/synthetic_shapes.py']
model = dict(type='PointNetClassifier', num_classes=12)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=1e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=20, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=5)
val_cfg = dict()
test_cfg = dict()
