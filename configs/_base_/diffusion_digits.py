# Shared by the 16x16 digits diffusion configs (the UNet teacher and its distillations):
# iteration-based training with AdamW (no weight decay) and gradient clipping; each config sets
# max_iters, the learning rate and its schedule, and the logging and checkpoint intervals.
_base_ = ['./default_runtime.py', './datasets/digits16.py']
optim_wrapper = dict(optimizer=dict(type='AdamW', weight_decay=0.0),
                     clip_grad=dict(max_norm=1.0))
train_cfg = dict(by_epoch=False)  # + max_iters=max_iters
default_hooks = dict(
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=False, max_keep_ckpts=2, save_last=True))
log_processor = dict(by_epoch=False)
