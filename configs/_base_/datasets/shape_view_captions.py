# Captioned depth views of the synthetic shapes (ShapeViewCaptions): each item is one 32 px depth
# view (of 6 ring views at 30 degrees elevation) of a shape's 512 points, with a caption from its
# class name ('a depth image of a chair.', 4 templates). Training draws the view and the template
# at random and rotates the points about z; testing is deterministic (fixed 512 points, view
# i % 6, template i // 6 % 4). inputs='image' (CLIP: inputs=dict(image, text)) here; point
# students set 'points' (inputs = the points, the image and caption in data_samples['clip_inputs']).
caption_cfg = dict(type='ShapeViewCaptions', num_views=6, views='ring', elevation=30.0,
                   image_size=32)
train_dataloader = dict(
    batch_size=64, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(caption_cfg, inputs='image', choice='random',
                 dataset=dict(type='SyntheticShapes', split='train',
                              transforms=[dict(type='SamplePoints', num_points=512),
                                          dict(type='RandomRotation', axis='z'),
                                          dict(type='Jitter', sigma=0.01, clip=0.05)])))
# validation (model selection): the held-out 'val' split; the test split gives the figures only
eval_loader = dict(batch_size=120, num_workers=0,
                   sampler=dict(type='DefaultSampler', shuffle=False),
                   collate_fn=dict(type='default_collate'))
eval_shapes = dict(type='SyntheticShapes', split='val',
                   transforms=[dict(type='SamplePoints', num_points=512, seed=0)])
val_dataloader = dict(eval_loader, dataset=dict(caption_cfg, inputs='image', choice='cycle',
                                                dataset=eval_shapes))
test_dataloader = dict(eval_loader, dataset=dict(caption_cfg, inputs='image', choice='cycle',
                                                 dataset=dict(eval_shapes, split='test')))
val_evaluator = dict(type='ZeroShotAccuracy', topk=(1, 5))
test_evaluator = val_evaluator
