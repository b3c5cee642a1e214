# Shared by the distillations of the digits diffusion teacher (configs/diffusion/pd_digits.py,
# cd_digits.py): the teacher's UNet and cosine schedule (configs/diffusion/unet_teacher_digits.py
# must build the same UNet), a v-prediction student with that UNet, started from the teacher's
# (EMA) weights, and the epsilon teacher from work_dirs/unet_teacher_digits. Each config sets
# the method (model.type and its options), max_iters, the learning rate and its schedule.
_base_ = ['./diffusion_digits.py']
unet = dict(sample_size=16, in_channels=1, out_channels=1, block_out_channels=(32, 64, 64),
            layers_per_block=1, norm_num_groups=8,
            down_block_types=('DownBlock2D', 'DownBlock2D', 'AttnDownBlock2D'),
            up_block_types=('AttnUpBlock2D', 'UpBlock2D', 'UpBlock2D'))
schedule = dict(type='DDPMScheduler', num_train_timesteps=1000,
                beta_schedule='squaredcos_cap_v2')
model = dict(
    student=dict(type='DiffusionModel', unet=unet,
                 scheduler=dict(schedule, prediction_type='v_prediction')),
    teacher=dict(model=dict(type='DiffusionModel', unet=unet,
                            scheduler=dict(schedule, prediction_type='epsilon')),
                 checkpoint='work_dirs/unet_teacher_digits/iter_1200.pth',
                 prefix=None))
train_dataloader = dict(batch_size=64)
default_hooks = dict(logger=dict(type='LoggerHook', interval=20),
                     checkpoint=dict(interval=200))
log_processor = dict(window_size=20)
