# Progressive distillation, round 1: the digits teacher's 16-step DDIM -> an 8-step student
# (Salimans & Ho 2022; mmkd/diffusion/methods/progressive.py). The student has the teacher's
# UNet and starts from its (EMA) weights, but predicts v: an epsilon student's x0 at t=999 is
# ill-conditioned (see mmkd/diffusion/sampling.py). Loss: max(SNR, 1)-weighted MSE on x0.
# Chain: pd_digits.py (16 -> 8) -> pd_digits_4steps.py (8 -> 4) -> pd_digits_2steps.py (4 -> 2)
# -> pd_digits_1step.py (2 -> 1), each taking the previous round's last checkpoint as teacher
# (prefix 'student.'). Export a round: tools/export_sampler.py CONFIG CKPT OUT --steps N.
# Budget: 400 iterations at batch 64: 0.48 s/iteration on 2 CPU cores shared with 3 other runs
# (OMP_NUM_THREADS=1, 12 iterations, random teacher) -> about 3.5 min per round.
_base_ = ['../_base_/diffusion_distill_digits.py']
model = dict(
    type='ProgressiveDistillation',
    num_student_steps=8,
    spacing='trailing',
    loss_weighting='truncated_snr',
    # the epsilon teacher's x0 at t=999 amplifies its error ~2e4x: clip it inside its 2 steps
    teacher_clip_x0=True,
    student=dict(predict_steps=8))
max_iters = 400
optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters - 20, eta_min=2e-5, by_epoch=False,
         begin=20, end=max_iters)]
train_cfg = dict(max_iters=max_iters)
