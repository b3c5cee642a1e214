# Progressive distillation, round 1: the digits teacher's 16-step DDIM -> an 8-step student
# (Salimans & Ho 2022; mmkd/diffusion/methods/progressive.py). The student has the teacher's
# UNet and starts from its (EMA) weights, but predicts v: an epsilon student's x0 at t=999 is
# ill-conditioned (see mmkd/diffusion/sampling.py). Loss: max(SNR, 1)-weighted MSE on x0.
# Chain: pd_digits.py (16 -> 8) -> pd_digits_4steps.py (8 -> 4) -> pd_digits_2steps.py (4 -> 2)
# -> pd_digits_1step.py (2 -> 1), each taking the previous round's last checkpoint as teacher
# (prefix 'student.'). Export a round: tools/export_sampler.py CONFIG CKPT OUT --steps N.
# Budget: 400 iterations at batch 64: 0.48 s/iteration on 2 CPU cores shared with 3 other runs
# (OMP_NUM_THREADS=1, 12 iterations, random teacher) -> about 3.5 min per round.
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/digits16.py']
unet = dict(sample_size=16, in_channels=1, out_channels=1, block_out_channels=(32, 64, 64),
            layers_per_block=1, norm_num_groups=8,
            down_block_types=('DownBlock2D', 'DownBlock2D', 'AttnDownBlock2D'),
            up_block_types=('AttnUpBlock2D', 'UpBlock2D', 'UpBlock2D'))
schedule = dict(type='DDPMScheduler', num_train_timesteps=1000,
                beta_schedule='squaredcos_cap_v2')
model = dict(
    type='ProgressiveDistillation',
    num_student_steps=8,
    spacing='trailing',
    loss_weighting='truncated_snr',
    # the epsilon teacher's x0 at t=999 amplifies its error ~2e4x: clip it inside its 2 steps
    teacher_clip_x0=True,
    student=dict(type='DiffusionModel', unet=unet,
                 scheduler=dict(schedule, prediction_type='v_prediction'), predict_steps=8),
    teacher=dict(model=dict(type='DiffusionModel', unet=unet,
                            scheduler=dict(schedule, prediction_type='epsilon')),
                 checkpoint='work_dirs/unet_teacher_digits/iter_1200.pth',
                 prefix=None))
train_dataloader = dict(batch_size=64)
max_iters = 400
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.0),
                     clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters - 20, eta_min=2e-5, by_epoch=False,
         begin=20, end=max_iters)]
train_cfg = dict(by_epoch=False, max_iters=max_iters)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=200, max_keep_ckpts=2,
                    save_last=True))
log_processor = dict(by_epoch=False, window_size=20)
