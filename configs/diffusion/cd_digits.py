# Consistency distillation (Song et al. 2023 CD, LCM-style; mmkd/diffusion/methods/consistency.py)
# of the digits teacher: a v-prediction student with the teacher's UNet, started from its (EMA)
# weights; teacher DDIM solver steps of 20 timesteps on the 50-point grid [19, 39, ..., 999];
# EMA target (momentum 0.95, updated in train_step, saved in checkpoints as target.*);
# pseudo-Huber loss, c = 0.001 * sqrt(256). Do not add EMAHook.
# Sample: consistency_sample over lcm_timesteps(1 | 2 | 4); export as DDPMPipeline +
# LCMScheduler with mmkd.diffusion.methods.consistency.export_consistency_pipeline.
# Budget: 600 iterations at batch 64: 0.50 s/iteration on 2 CPU cores shared with 3 other runs
# (OMP_NUM_THREADS=1, 12 iterations, random teacher) -> about 5 min.
_base_ = ['../_base_/diffusion_distill_digits.py']
model = dict(
    type='ConsistencyDistillation',
    num_solver_steps=50,
    skip_timesteps=20,
    ema_momentum=0.95,
    loss_type='huber',
    huber_c=0.001,
    sigma_data=0.5,
    timestep_scaling=10.0,
    predict_steps=4)
max_iters = 600
optim_wrapper = dict(optimizer=dict(lr=1e-4))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20)]
train_cfg = dict(max_iters=max_iters)
