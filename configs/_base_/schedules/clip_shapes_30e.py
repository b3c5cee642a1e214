# A CLIP model's budget on the shapes: AdamW, two epochs of linear warm-up, cosine decay to 30
# epochs, gradients clipped at norm 1; validation every 5.
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1),
                     clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2,
                        convert_to_iter_based=True),
                   dict(type='CosineAnnealingLR', T_max=28, by_epoch=True, begin=2, end=30,
                        convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=5)
val_cfg = dict()
test_cfg = dict()
