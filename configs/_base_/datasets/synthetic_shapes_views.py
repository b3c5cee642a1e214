# The synthetic shapes (12 classes, 960 train / 240 test clouds) for cross-modal (image -> point)
# distillation, smaller than configs/_base_/datasets/synthetic_shapes.py so that a whole
# teacher -> students experiment takes minutes. PointCloudWithViews renders 6 cube depth views of
# 32 px from all 1024 points of each cloud (after augmentation), then keeps a random 128 of those
# points for the point student: the image teacher sees a denser surface, as a depth camera would.
# 240 held-out 'val' clouds choose the best epoch.
# Batches: inputs [B, 128, 3], data_samples['views'] [B, 6, 1, 32, 32], and the point-to-pixel
# correspondences PPKT needs, data_samples['pixels'] [B, 6, 128, 2] and ['visible'] [B, 6, 128].
view_cfg = dict(num_views=6, image_size=32, radius=1, return_pixels=True, num_points=128)
train_dataloader = dict(
    batch_size=32, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='PointCloudWithViews', **view_cfg,
                 dataset=dict(type='SyntheticShapes', split='train',
                              transforms=[dict(type='SamplePoints', num_points=1024),
                                          dict(type='RandomRotation', axis='z'),
                                          dict(type='Jitter', sigma=0.01, clip=0.05)])))
# validation (model selection): the held-out 'val' split; the test split gives the figures only
eval_loader = dict(batch_size=64, num_workers=0,
                   sampler=dict(type='DefaultSampler', shuffle=False),
                   collate_fn=dict(type='default_collate'))
eval_shapes = dict(type='SyntheticShapes', split='val',
                   transforms=[dict(type='SamplePoints', num_points=1024, seed=0)])
val_dataloader = dict(eval_loader,
                      dataset=dict(type='PointCloudWithViews', **view_cfg, dataset=eval_shapes))
test_dataloader = dict(eval_loader, dataset=dict(type='PointCloudWithViews', **view_cfg,
                                                 dataset=dict(eval_shapes, split='test')))
val_evaluator = dict(type='Accuracy', topk=(1,))
test_evaluator = val_evaluator
