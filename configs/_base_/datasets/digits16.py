# scikit-learn's 8x8 digits upsampled to 16x16 (bilinear), in [-1, 1]: 1257 train images.
# Diffusion training draws batches by iterations; no validation set is needed by default.
train_dataloader = dict(
    batch_size=128, num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='DigitsImages', split='train', image_size=16))
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
