# The demo's distilled student: labels for 1 % of the training images, the demo teacher's cached
# soft outputs (2 augmentations of each image) on all 55 000, 5 epochs.
_base_ = ['../kd_cnn_fmnist_1pct.py']
teacher_cache_dir = 'work_dirs/teacher_cache/fashion_mnist_demo_1pct'
model = dict(teachers=dict(teacher=dict(
    model=dict(_delete_=True, type='ConvClassifier', channels=(16, 32, 64), convs_per_stage=2),
    checkpoint='work_dirs/fashion_mnist/demo_teacher/epoch_3.pth')),
    teacher_cache=dict(path=teacher_cache_dir))
train_dataloader = dict(dataset=dict(path=teacher_cache_dir, num_augs=2))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=0.5,
                        convert_to_iter_based=True),
                   dict(type='CosineAnnealingLR', T_max=4.5, by_epoch=True, begin=0.5, end=5,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=5)
