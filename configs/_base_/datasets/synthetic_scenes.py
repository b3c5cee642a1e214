# Captioned synthetic scenes (8 shapes x 8 colours, 48x48), generated once and cached in
# work_dirs/data. Zero-shot class = the shape of the main object; metrics: zero-shot top-1/top-5
# from prompt templates and image<->text retrieval recall on the 1000 test scenes. 20000 training
# scenes: with 3000 the teacher memorised the captions (train loss 0.27, zero-shot 18 %). The
# validation passes run on 1000 held-out 'val' scenes; the test scenes give the figures only.
scene_dataset = dict(type='SyntheticCaptionedScenes', image_size=48, num_train=20000,
                     num_test=1000, num_val=1000)
train_dataloader = dict(
    batch_size=128, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(scene_dataset, split='train'))
val_dataloader = dict(
    batch_size=200, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(scene_dataset, split='val'))
test_dataloader = dict(val_dataloader, dataset=dict(scene_dataset, split='test'))
val_evaluator = [dict(type='ZeroShotAccuracy', topk=(1, 5)), dict(type='RetrievalRecall')]
test_evaluator = val_evaluator
# the zero-shot classifier of every model: the shape names through the dataset's prompts
zero_shot = dict(classes=['circle', 'square', 'triangle', 'star', 'cross', 'ring', 'diamond',
                          'heart'],
                 templates=['a photo of a {}.', 'a {} shape.', 'an image of a {}.',
                            'a drawing of a {}.'])
