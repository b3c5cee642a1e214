# Consistency distillation (Song et al. 2023 CD, LCM-style; mmkd/diffusion/methods/consistency.py)
# of the digits teacher: a v-prediction student with the teacher's UNet, started from its (EMA)
# weights; teacher DDIM solver steps of 20 timesteps on the 50-point grid [19, 39, ..., 999];
# EMA target (momentum 0.95, updated in train_step, saved in checkpoints as target.*);
# pseudo-Huber loss, c = 0.001 * sqrt(256). Do not add EMAHook.
# Sample: consistency_sample over lcm_timesteps(1 | 2 | 4); export as DDPMPipeline +
# LCMScheduler with mmkd.diffusion.methods.consistency.export_consistency_pipeline.
# Budget: 600 iterations at batch 64: 0.50 s/iteration on 2 CPU cores shared with 3 other runs
# (OMP_NUM_THREADS=1, 12 iterations, random teacher) -> about 5 min.
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/digits16.py']
unet = dict(sample_size=16, in_channels=1, out_channels=1, block_out_channels=(32, 64, 64),
            layers_per_block=1, norm_num_groups=8,
            down_block_types=('DownBlock2D', 'DownBlock2D', 'AttnDownBlock2D'),
            up_block_types=('AttnUpBlock2D', 'UpBlock2D', 'UpBlock2D'))
schedule = dict(type='DDPMScheduler', num_train_timesteps=1000,
                beta_schedule='squaredcos_cap_v2')
model = dict(
    type='ConsistencyDistillation',
    num_solver_steps=50,
    skip_timesteps=20,
    ema_momentum=0.95,
    loss_type='huber',
    huber_c=0.001,
    sigma_data=0.5,
    timestep_scaling=10.0,
    predict_steps=4,
    student=dict(type='DiffusionModel', unet=unet,
                 scheduler=dict(schedule, prediction_type='v_prediction')),
    teacher=dict(model=dict(type='DiffusionModel', unet=unet,
                            scheduler=dict(schedule, prediction_type='epsilon')),
                 checkpoint='work_dirs/unet_teacher_digits/iter_1200.pth',
                 prefix=None))
train_dataloader = dict(batch_size=64)
max_iters = 600
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.0),
                     clip_grad=dict(max_norm=1.0))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20)]
train_cfg = dict(by_epoch=False, max_iters=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=200, max_keep_ckpts=2,
                    save_last=True))
log_processor = dict(by_epoch=False, window_size=20)
