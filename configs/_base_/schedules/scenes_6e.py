# The teacher's budget: AdamW, half an epoch of linear warm-up, cosine decay over 6 epochs of
# 20000 scenes (157 iterations each at batch 128).
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1),
                     clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=0.5,
                        convert_to_iter_based=True),
                   dict(type='CosineAnnealingLR', T_max=5.5, by_epoch=True, begin=0.5, end=6,
                        convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=6, val_interval=2)
val_cfg = dict()
test_cfg = dict()
