"""Progressive distillation: the closed-form target, initialisation, training, export."""
import pytest
import torch

from conftest import TINY_UNET
from mmkd.diffusion.methods import ProgressiveDistillation
from mmkd.diffusion.methods.progressive import pd_x0_target
from mmkd.diffusion.models import DiffusionModel
from mmkd.diffusion.pipeline_export import export_pipeline
from mmkd.diffusion.sampling import alpha_at, ddim_step, pipeline_noise, training_target
from mmkd.engine.student import build_student
from mmkd.registry import MODELS


def teacher_checkpoint(tmp_path, prediction_type='epsilon', seed=0):
    torch.manual_seed(seed)
    teacher = DiffusionModel(unet=TINY_UNET, scheduler=dict(prediction_type=prediction_type))
    path = str(tmp_path / f'teacher_{prediction_type}.pth')
    torch.save(dict(state_dict=teacher.state_dict(), meta=dict(iter=0)), path)
    return teacher.eval(), path


def pd_config(ckpt, student_type='v_prediction', teacher_type='epsilon', steps=2, **kwargs):
    return dict(type='ProgressiveDistillation', num_student_steps=steps,
                student=dict(type='DiffusionModel', unet=TINY_UNET,
                             scheduler=dict(prediction_type=student_type)),
                teacher=dict(model=dict(type='DiffusionModel', unet=TINY_UNET,
                                        scheduler=dict(prediction_type=teacher_type)),
                             checkpoint=ckpt), **kwargs)


def fixed_batch(n=4):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 8, 8, generator=g) * 2 - 1, torch.randn(n, 1, 8, 8, generator=g)


@pytest.mark.parametrize('prediction_type', ['epsilon', 'v_prediction'])
def test_one_step_on_the_target_lands_on_the_teachers_two_steps(tmp_path, prediction_type):
    """Teacher as student: the student's DDIM step from z_t with the target x~ as its prediction
    reproduces the teacher's two DDIM steps, for every step including the last (to x0)."""
    teacher, ckpt = teacher_checkpoint(tmp_path, prediction_type)
    model = ProgressiveDistillation(**{k: v for k, v in pd_config(
        ckpt, prediction_type, prediction_type, steps=4).items() if k != 'type'})
    assert model.student_timesteps == [999, 749, 499, 249]
    assert model.teacher_timesteps == [999, 874, 749, 624, 499, 374, 249, 124]
    x0, noise = fixed_batch(4)
    index = torch.arange(4)
    z_t, t, x_target, z_next = model.targets(x0, noise, index)
    ac = model.alphas_cumprod
    # independent: the teacher's own two DDIM steps, one timestep pair at a time
    with torch.no_grad():
        for i, (t0, t1, t2) in enumerate([(999, 874, 749), (749, 624, 499), (499, 374, 249),
                                          (249, 124, -1)]):
            z = z_t[i:i + 1]
            for a, b in ((t0, t1), (t1, t2)):
                z, _ = ddim_step(teacher.denoise(z, a), z, ac[a], alpha_at(ac, b),
                                 prediction_type)
            # an untrained epsilon teacher at t=999 reaches |z| ~ 1e3: float32 rounding, relative
            torch.testing.assert_close(z_next[i:i + 1], z, rtol=1e-5, atol=1e-5)
    a_t, a_next = alpha_at(ac, t, x0), alpha_at(ac, model._t_next[index], x0)
    eps = (z_t - a_t.sqrt() * x_target) / (1 - a_t).sqrt()
    output = training_target(x_target, eps, a_t, prediction_type)  # what the student must say
    one_step, x0_pred = ddim_step(output, z_t, a_t, a_next, prediction_type)
    torch.testing.assert_close(x0_pred, x_target, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(one_step, z_next, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x_target[3], z_next[3])            # last step: x~ = z_0
    # the closed form itself on random numbers: alpha'' x~ + sigma'' eps~ = z''
    a, b = torch.tensor(0.3), torch.tensor(0.7)
    z, zn = torch.randn(5), torch.randn(5)
    xt = pd_x0_target(z, zn, a, b)
    torch.testing.assert_close(b.sqrt() * xt + (1 - b).sqrt() * (z - a.sqrt() * xt)
                               / (1 - a).sqrt(), zn)


def test_student_starts_as_the_teacher_and_the_loss_is_the_weighted_x0_error(tmp_path):
    teacher, ckpt = teacher_checkpoint(tmp_path)
    model = MODELS.build(pd_config(ckpt, student_type='epsilon'))
    for k, v in teacher.state_dict().items():
        torch.testing.assert_close(model.student.state_dict()[k], v, rtol=0, atol=0)
        torch.testing.assert_close(model.teacher.state_dict()[k], v, rtol=0, atol=0)
    assert not any(p.requires_grad for p in model.teacher.parameters())
    assert all(p.requires_grad for p in model.student.parameters())
    assert not model.teacher.training
    model.init_weights()                                         # the runner's call: a no-op
    torch.testing.assert_close(model.student.state_dict()['unet.conv_in.weight'],
                               teacher.state_dict()['unet.conv_in.weight'])
    assert {k.split('.')[0] for k in model.state_dict()} == {'student', 'teacher'}
    # loss on a fixed batch against a hand computation, truncated-SNR weighting
    x0, noise = fixed_batch(4)
    index = torch.tensor([0, 1, 1, 0])
    z_t, t, x_target, _ = model.targets(x0, noise, index)
    a = model.alphas_cumprod[t].view(-1, 1, 1, 1)
    with torch.no_grad():
        x_pred = (z_t - (1 - a).sqrt() * model.student.unet(z_t, t).sample) / a.sqrt()
        expected = (torch.maximum(a / (1 - a), torch.ones_like(a))
                    * (x_pred - x_target) ** 2).mean()
        got = model.distillation_loss(x0, noise, index)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=0)
    assert got > 0   # epsilon student = teacher still differs from two teacher steps


def test_loss_decreases_on_a_fixed_batch(tmp_path):
    # a v teacher: an untrained epsilon teacher's x0 at t=999 is ~1e4 (noise / sqrt(2.4e-9))
    _, ckpt = teacher_checkpoint(tmp_path, 'v_prediction')
    torch.manual_seed(0)
    model = MODELS.build(pd_config(ckpt, teacher_type='v_prediction'))
    x0, noise = fixed_batch(8)
    index = torch.arange(8) % 2
    optim = torch.optim.Adam(model.student.parameters(), lr=2e-3)
    teacher_before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    losses = []
    for _ in range(15):
        loss = model.distillation_loss(x0, noise, index)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    for k, v in model.teacher.state_dict().items():             # the teacher never moves
        torch.testing.assert_close(v, teacher_before[k], rtol=0, atol=0)


def test_config_errors(tmp_path):
    _, ckpt = teacher_checkpoint(tmp_path)
    with pytest.raises(ValueError, match='do not nest'):
        MODELS.build(pd_config(ckpt, spacing='stride', steps=3))  # 998 vs 995
    with pytest.raises(ValueError, match='loss_weighting'):
        MODELS.build(pd_config(ckpt, loss_weighting='snr'))
    with pytest.raises(ValueError, match="teacher's architecture"):
        cfg = pd_config(ckpt)
        cfg['student']['unet'] = dict(TINY_UNET, block_out_channels=(8, 8))
        MODELS.build(cfg)
    with pytest.raises(FileNotFoundError, match='model.teacher.checkpoint'):
        MODELS.build(pd_config(str(tmp_path / 'missing.pth')))


def test_pd_checkpoint_exports_a_pipeline_equal_to_our_sampler(tmp_path):
    from diffusers import DiffusionPipeline
    _, ckpt = teacher_checkpoint(tmp_path)
    torch.manual_seed(0)
    model = MODELS.build(pd_config(ckpt, steps=2))
    with torch.no_grad():                                       # make the student its own
        for p in model.student.parameters():
            p.add_(0.05 * torch.randn_like(p))
    pd_ckpt = str(tmp_path / 'pd.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=1)), pd_ckpt)
    cfg_path = tmp_path / 'pd_tiny.py'
    cfg_path.write_text(f"default_scope = 'mmkd'\nmodel = {pd_config(ckpt, steps=2)!r}\n")
    student, is_ema = build_student(str(cfg_path), pd_ckpt)
    assert not is_ema and student.prediction_type == 'v_prediction'
    for k, v in model.student.state_dict().items():
        torch.testing.assert_close(student.state_dict()[k], v, rtol=0, atol=0)
    out = str(tmp_path / 'pipe')
    info = export_pipeline(str(cfg_path), pd_ckpt, out, num_steps=2)
    assert info['timesteps'] == model.student_timesteps == [999, 499]
    assert info['max_abs_diff'] <= 1e-5
    pipe = DiffusionPipeline.from_pretrained(out)
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(batch_size=2, num_inference_steps=2, output_type='pt',
                  generator=torch.Generator().manual_seed(7)).images
    with torch.no_grad():                                       # the algorithm's own sampler
        ours = model.sample(pipeline_noise(model.student.unet, 7, 2))
    torch.testing.assert_close(theirs, (ours / 2 + 0.5).clamp(0, 1), rtol=0, atol=1e-5)
    assert ((theirs > 0) & (theirs < 1)).float().mean() > 0.5
    results = model(torch.zeros(2, 1, 8, 8), dict(noise=pipeline_noise(model.student.unet, 7, 2)),
                    mode='predict')
    torch.testing.assert_close(results[0]['sample'], ours[0].clamp(-1, 1))
