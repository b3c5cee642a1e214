# 12 classes of open3d primitives and compositions, generated once and cached in work_dirs/data.
# Training: 512 of the 1024 cached points per shape, random z rotation, jitter. Evaluation: a fixed
# 512 (seed=0), so a metric does not depend on the global RNG. The 240 held-out 'val' clouds
# choose the best epoch; the 240 'test' clouds give the figures only.
train_dataloader = dict(
    batch_size=32, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='SyntheticShapes', split='train',
                 transforms=[dict(type='SamplePoints', num_points=512),
                             dict(type='RandomRotation', axis='z'),
                             dict(type='Jitter', sigma=0.01, clip=0.05)]))
val_dataloader = dict(
    batch_size=64, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='SyntheticShapes', split='val',
                 transforms=[dict(type='SamplePoints', num_points=512, seed=0)]))
test_dataloader = dict(val_dataloader, dataset=dict(val_dataloader['dataset'], split='test'))
val_evaluator = dict(type='Accuracy', topk=(1,))
test_evaluator = val_evaluator
