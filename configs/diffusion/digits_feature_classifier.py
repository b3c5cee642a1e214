# The feature extractor of mmkd's diffusion metrics (mmkd/diffusion/metrics.py): a 3-stage CNN
# classifier (94 k parameters) on the 16x16 digits in [-1, 1] (DigitsImages, the images the
# diffusion models are trained on). Its 128-d global-pool features (`pool`) are the FD features;
# its weights must stay fixed once FDs are published (FDs from different classifiers do not
# compare). Train: python tools/train.py configs/diffusion/digits_feature_classifier.py
# -> work_dirs/digits_feature_classifier/epoch_15.pth: 99.26 % test top-1 (540 images) in 12 s
# wall-clock including start-up (OMP_NUM_THREADS=1, shared 2-core machine).
_base_ = ['../_base_/default_runtime.py']
model = dict(type='ConvClassifier', in_channels=1, channels=(32, 64, 128), convs_per_stage=1)
train_dataloader = dict(
    batch_size=64, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='DigitsImages', split='train', image_size=16))
val_dataloader = dict(
    batch_size=256, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='DigitsImages', split='test', image_size=16))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
max_epochs = 15
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=5)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=1))
