"""Consistency distillation: boundary scalings, solver step, loss, EMA target (in checkpoints and
across resume), and the LCMScheduler export against our sampler."""
import json
import os.path as osp

import pytest
import torch
from diffusers import DDIMScheduler, LCMScheduler
from mmengine.optim import OptimWrapper

from conftest import TINY_UNET
from mmkd.diffusion.methods import (ConsistencyDistillation, boundary_scalings,
                                    consistency_sample, lcm_timesteps, pseudo_huber)
from mmkd.diffusion.methods.consistency import (consistency_function,
                                                consistency_sample_like_pipeline)
from mmkd.diffusion.models import DiffusionModel
from mmkd.diffusion.pipeline_export import export_consistency_pipeline
from mmkd.engine.runner import build_runner
from mmkd.fileio import load_state_dict_file
from mmkd.registry import MODELS


def teacher_checkpoint(tmp_path, prediction_type='v_prediction', seed=0):
    torch.manual_seed(seed)
    teacher = DiffusionModel(unet=TINY_UNET, scheduler=dict(prediction_type=prediction_type))
    path = str(tmp_path / f'teacher_{prediction_type}.pth')
    torch.save(dict(state_dict=teacher.state_dict()), path)
    return teacher.eval(), path


def cd_config(ckpt, teacher_type='v_prediction', **kwargs):
    return dict(type='ConsistencyDistillation',
                student=dict(type='DiffusionModel', unet=TINY_UNET,
                             scheduler=dict(prediction_type='v_prediction')),
                teacher=dict(model=dict(type='DiffusionModel', unet=TINY_UNET,
                                        scheduler=dict(prediction_type=teacher_type)),
                             checkpoint=ckpt), **kwargs)


def ddim(prediction_type, **kwargs):
    return DDIMScheduler(num_train_timesteps=1000, beta_schedule='squaredcos_cap_v2',
                         prediction_type=prediction_type, clip_sample=False, **kwargs)


def test_boundary_scalings_and_timesteps_are_lcm_schedulers():
    c_skip, c_out = boundary_scalings(0)
    assert c_skip.item() == 1.0 and c_out.item() == 0.0                # f(x, 0) = x
    lcm = LCMScheduler(beta_schedule='squaredcos_cap_v2', original_inference_steps=50)
    for t in (0, 1, 19, 499, 999):
        theirs = lcm.get_scalings_for_boundary_condition_discrete(torch.tensor(t))
        ours = boundary_scalings(torch.tensor(t))
        torch.testing.assert_close(ours[0], theirs[0].float())
        torch.testing.assert_close(ours[1], theirs[1].float())
    assert boundary_scalings(19)[0] < 7e-6                              # tiny on the grid
    for n in (1, 2, 3, 4, 8, 50):
        lcm.set_timesteps(n)
        assert lcm_timesteps(n) == lcm.timesteps.tolist(), n
    assert lcm_timesteps(4) == [999, 759, 499, 259] and lcm_timesteps(2) == [999, 499]


@pytest.mark.parametrize('prediction_type', ['epsilon', 'v_prediction'])
def test_teacher_solver_step_is_a_diffusers_ddim_step(tmp_path, prediction_type):
    teacher, ckpt = teacher_checkpoint(tmp_path, prediction_type)
    model = MODELS.build(cd_config(ckpt, teacher_type=prediction_type))
    assert model.skip_timesteps == 20 and model._grid[[0, -1]].tolist() == [19, 999]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 8, 8, generator=g)
    for t, alpha_one in ((519, True), (39, True), (19, False)):         # 19 -> 0: alphas[0]
        scheduler = ddim(prediction_type, set_alpha_to_one=alpha_one)
        scheduler.set_timesteps(50)                                     # steps t -> t - 20
        with torch.no_grad():
            out = teacher.unet(x, t).sample
            theirs = scheduler.step(out, t, x).prev_sample
            ours = model.solver_step(x, torch.full((2,), t), torch.full((2,), max(t - 20, 0)))
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_pseudo_huber_and_the_loss_on_fixed_inputs(tmp_path):
    a = torch.tensor([[[[0.5, -1.0], [2.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.1]]]])
    b = torch.zeros_like(a)
    # hand computation: ||a - b||^2 = 5.25 and 0.01; c = 0.001 * sqrt(4) = 0.002
    expected = torch.tensor([(5.25 + 4e-6) ** 0.5 - 0.002, (0.01 + 4e-6) ** 0.5 - 0.002])
    torch.testing.assert_close(pseudo_huber(a, b), expected)
    torch.testing.assert_close(pseudo_huber(a, b, c=1.0), torch.tensor(
        [6.25 ** 0.5 - 1, 1.01 ** 0.5 - 1]))
    # the loss: student at t_{n+k}, EMA target at the teacher's DDIM step t_n
    teacher, ckpt = teacher_checkpoint(tmp_path)
    model = MODELS.build(cd_config(ckpt, loss_type='huber'))
    with torch.no_grad():
        for p in model.student.parameters():                             # student != target
            p.add_(0.05 * torch.randn_like(p))
    g = torch.Generator().manual_seed(1)
    x0, noise = torch.rand(3, 1, 8, 8, generator=g) * 2 - 1, torch.randn(3, 1, 8, 8, generator=g)
    index = torch.tensor([0, 10, 49])                                   # t = 19, 219, 999
    t, t_prev = torch.tensor([19, 219, 999]), torch.tensor([0, 199, 979])
    a = model.alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
    scheduler = ddim('v_prediction', set_alpha_to_one=False)   # 19 -> "-1" = alphas[0]
    scheduler.set_timesteps(50)                                  # t -> t - 20
    with torch.no_grad():
        x_prev = torch.cat([scheduler.step(teacher.unet(x_t[i:i + 1], t[i]).sample, int(t[i]),
                                           x_t[i:i + 1]).prev_sample for i in range(3)])
        target = consistency_function(model.target, x_prev, t_prev)
        pred = consistency_function(model.student, x_t, t)
        expected = (((pred - target) ** 2).flatten(1).sum(1) + 0.008 ** 2).sqrt() - 0.008
        got = model.distillation_loss(x0, noise, index)
    torch.testing.assert_close(got, expected.mean(), rtol=1e-5, atol=1e-7)
    # at t_n = 0 the target is the teacher's DDIM solution itself (c_skip = 1)
    torch.testing.assert_close(target[0], x_prev[0])


def test_ema_target_update_after_one_step(tmp_path):
    _, ckpt = teacher_checkpoint(tmp_path)
    model = MODELS.build(cd_config(ckpt, ema_momentum=0.9))
    assert isinstance(model, ConsistencyDistillation) and model.ema_momentum == 0.9
    assert {k.split('.')[0] for k in model.state_dict()} == {'student', 'teacher', 'target'}
    assert not any(p.requires_grad for p in model.target.parameters())
    assert not model.target.training and not model.teacher.training
    key = 'unet.conv_in.weight'
    before = model.target.state_dict()[key].clone()
    torch.testing.assert_close(before, model.student.state_dict()[key])  # starts = student
    optim = OptimWrapper(torch.optim.SGD(model.student.parameters(), lr=0.5))
    data = dict(inputs=torch.rand(4, 1, 8, 8) * 2 - 1, data_samples=dict(labels=[0] * 4))
    log_vars = model.train_step(data, optim)
    assert 'loss_cd' in log_vars
    after_student = model.student.state_dict()[key]
    assert not torch.allclose(after_student, before)
    torch.testing.assert_close(model.target.state_dict()[key],
                               0.9 * before + 0.1 * after_student, rtol=1e-6, atol=1e-7)
    # outside train_step (the DDP wrapper path) a training loss() updates first
    target = model.target.state_dict()[key].clone()
    model.loss(data['inputs'])
    torch.testing.assert_close(model.target.state_dict()[key],
                               0.9 * target + 0.1 * after_student, rtol=1e-6, atol=1e-7)


def runner_config(tmp_path, ckpt, max_iters, work_dir):
    return dict(
        model=cd_config(ckpt, ema_momentum=0.5),
        work_dir=str(work_dir), default_scope='mmkd',
        train_dataloader=dict(
            batch_size=4, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            dataset=dict(type='DigitsImages', num_samples=16, image_size=8)),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        log_level='WARNING', randomness=dict(seed=0))


def test_ema_target_is_checkpointed_and_restored_on_resume(tmp_path):
    from mmengine.config import Config
    _, ckpt = teacher_checkpoint(tmp_path)
    work_dir = tmp_path / 'run'
    runner = build_runner(Config(runner_config(tmp_path, ckpt, 3, work_dir)))
    runner.train()
    key = 'unet.conv_in.weight'
    model = runner.model
    saved = load_state_dict_file(str(work_dir / 'iter_3.pth'), 'ckpt')
    torch.testing.assert_close(saved[f'target.{key}'], model.target.state_dict()[key])
    torch.testing.assert_close(saved[f'student.{key}'], model.student.state_dict()[key])
    assert not torch.allclose(saved[f'target.{key}'], saved[f'student.{key}'])
    # resume from iteration 3 for one more step: the target continues from the checkpoint
    cfg = Config(runner_config(tmp_path, ckpt, 4, work_dir))
    cfg.resume, cfg.load_from = True, str(work_dir / 'iter_3.pth')
    resumed = build_runner(cfg)
    resumed.train()
    assert resumed.iter == 4
    target4 = resumed.model.target.state_dict()
    student4 = resumed.model.student.state_dict()
    for k in (key, 'unet.conv_out.bias'):
        torch.testing.assert_close(target4[k], 0.5 * saved[f'target.{k}'] + 0.5 * student4[k],
                                   rtol=1e-6, atol=1e-7)


def test_consistency_sampler_and_the_lcm_pipeline_export(tmp_path):
    from diffusers import DiffusionPipeline
    _, ckpt = teacher_checkpoint(tmp_path)
    torch.manual_seed(0)
    model = MODELS.build(cd_config(ckpt, predict_steps=2))
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(0.05 * torch.randn_like(p))
    cd_ckpt = str(tmp_path / 'cd.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=1)), cd_ckpt)
    cfg_path = tmp_path / 'cd_tiny.py'
    cfg_path.write_text(f"default_scope = 'mmkd'\nmodel = {cd_config(ckpt)!r}\n")
    out = str(tmp_path / 'pipe')
    info = export_consistency_pipeline(str(cfg_path), cd_ckpt, out, verify_steps=(1, 2, 4))
    assert info['max_abs_diff'] <= 1e-5
    index = json.load(open(osp.join(out, 'model_index.json')))
    assert index['_class_name'] == 'DDPMPipeline' and index['scheduler'][1] == 'LCMScheduler'
    pipe = DiffusionPipeline.from_pretrained(out)
    pipe.set_progress_bar_config(disable=True)
    student = model.student.eval()
    for n in (1, 2, 4):
        theirs = pipe(batch_size=2, num_inference_steps=n, output_type='pt',
                      generator=torch.Generator().manual_seed(3)).images
        ours = consistency_sample_like_pipeline(student, n, 3, 2)
        torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)
        assert ((theirs > 0) & (theirs < 1)).float().mean() > 0.5
    # the sampler by hand: 2 steps, f at 999, fresh noise to 499, f at 499
    g = torch.Generator().manual_seed(5)
    noise, z = torch.randn(2, 1, 8, 8, generator=g), torch.randn(2, 1, 8, 8, generator=g)
    a = model.alphas_cumprod[499]
    with torch.no_grad():
        x0 = consistency_function(student, noise, 999)
        expected = consistency_function(student, a.sqrt() * x0 + (1 - a).sqrt() * z, 499)
    got = consistency_sample(student, [999, 499], noise, _after_one_draw(5))
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
    results = model(torch.zeros(2, 1, 8, 8), dict(noise=noise), mode='predict')
    assert len(results) == 2 and results[0]['sample'].shape == (1, 8, 8)


def _after_one_draw(seed):
    """A generator that has already drawn the initial noise (as the pipeline's has)."""
    g = torch.Generator().manual_seed(seed)
    torch.randn(2, 1, 8, 8, generator=g)
    return g
