# Diffusion teacher: a 1.1 M-parameter UNet2DModel (attention at 4x4) on the 16x16 digits,
# epsilon prediction on the cosine schedule, EMA weights. 1200 iterations at batch 128: about
# 11 min on CPU (0.55 s/iteration measured with OMP_NUM_THREADS=1 on a shared 2-core machine).
# The checkpoint's `state_dict` holds the EMA weights (EMAHook swaps them in when saving), so
# teacher specs and tools/export_sampler.py load the EMA model by default.
_base_ = ['../_base_/diffusion_digits.py']
model = dict(
    type='DiffusionModel',
    unet=dict(sample_size=16, in_channels=1, out_channels=1, block_out_channels=(32, 64, 64),
              layers_per_block=1, norm_num_groups=8,
              down_block_types=('DownBlock2D', 'DownBlock2D', 'AttnDownBlock2D'),
              up_block_types=('AttnUpBlock2D', 'UpBlock2D', 'UpBlock2D')),
    scheduler=dict(type='DDPMScheduler', num_train_timesteps=1000,
                   beta_schedule='squaredcos_cap_v2', prediction_type='epsilon'),
    predict_steps=50)
max_iters = 1200
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_iters - 50, eta_min=5e-5, by_epoch=False,
         begin=50, end=max_iters)]
train_cfg = dict(max_iters=max_iters)
# MMEngine's EMA convention: ema = (1 - momentum) * ema + momentum * weights (momentum is 1 -
# the usual "decay"). 1200 iterations are short: momentum 0.005 (a ~200-iteration horizon)
# forgets the random init ((1 - 0.005)^1000 < 1 %), which 0.001 would not (37 % left).
custom_hooks = [
    dict(type='EpochSeedHook'),
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.005)]
default_hooks = dict(logger=dict(type='LoggerHook', interval=50),
                     checkpoint=dict(interval=400))
log_processor = dict(window_size=50)
