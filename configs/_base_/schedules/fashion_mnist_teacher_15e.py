# SGD with Nesterov momentum, one epoch of linear warm-up, cosine decay to 0 over 15 epochs
# (430 iterations each at batch 128).
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, nesterov=True,
                                    weight_decay=5e-4))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
                        convert_to_iter_based=True),
                   dict(type='CosineAnnealingLR', T_max=14, by_epoch=True, begin=1, end=15,
                        convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=15, val_interval=1)
val_cfg = dict()
test_cfg = dict()
