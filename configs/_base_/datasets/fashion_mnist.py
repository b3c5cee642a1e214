# Real Fashion-MNIST (Debian dataset-fashion-mnist): 55 000 training images, a stratified 5 000 of
# the training file held out for validation (model selection), the 10 000 test images for the
# final figure only. Training augmentation: random translation by up to 2 px and horizontal flip.
train_dataloader = dict(
    batch_size=128, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='FashionMNIST', split='train', crop_padding=2, flip=True))
val_dataloader = dict(
    batch_size=500, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='FashionMNIST', split='val'))
test_dataloader = dict(val_dataloader, dataset=dict(type='FashionMNIST', split='test'))
val_evaluator = dict(type='Accuracy', topk=(1,))
test_evaluator = val_evaluator
