# CLIP students on Fashion-MNIST image-caption pairs (FashionMNISTCaptions): 20 000 training
# images (the first of the training split) with captions drawn from 8 templates, translated by
# up to 2 px and flipped; the first 2 000 validation images choose the best epoch by zero-shot
# top-1; the 10 000 test images give the figures. Validation and test captions, and the
# zero-shot prompts, are paraphrases held out from training.
_base_ = ['./default_runtime.py', './schedules/scenes_6e.py']
captions = dict(type='FashionMNISTCaptions')
train_dataloader = dict(
    batch_size=128, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(captions, split='train', crop_padding=2, flip=True, num_samples=20000))
val_dataloader = dict(
    batch_size=500, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(captions, split='val', num_samples=2000))
test_dataloader = dict(val_dataloader, dataset=dict(captions, split='test'))
# retrieval: any caption of the image's class is a hit (RetrievalRecall(positives='label')); the
# captions name only the class, in 4 templates, so equal-caption positives would score the template
val_evaluator = [dict(type='ZeroShotAccuracy', topk=(1, 5)),
                 dict(type='RetrievalRecall', positives='label')]
test_evaluator = val_evaluator
default_hooks = dict(checkpoint=dict(save_best='zeroshot/top1', rule='greater'))
# the zero-shot classifier: the class names through the held-out prompts (HELD_OUT_TEMPLATES)
zero_shot = dict(classes=['t-shirt', 'pair of trousers', 'pullover', 'dress', 'coat', 'sandal',
                          'shirt', 'sneaker', 'bag', 'ankle boot'],
                 templates=['a picture of a {}.', 'there is a {} in this image.',
                            'a low-resolution photo of the {}.', 'an example of a {}.'])
# The student: open_clip with a small CNN image tower (ModifiedResNet, one bottleneck per stage at
# width 16, 32 px) and a 2-layer text transformer of width 64 on open_clip's tokenizer.
student_clip = dict(
    embed_dim=64,
    vision_cfg=dict(image_size=32, layers=(1, 1, 1, 1), width=16, head_width=16),
    text_cfg=dict(context_length=24, vocab_size=49408, width=64, heads=2, layers=2))
# the CLIP teacher's schedule on the scenes (AdamW, cosine over 6 epochs of 157 iterations), with
# a validation pass every epoch
train_cfg = dict(val_interval=1)
