"""mmkd's explicit-timestep DDIM against diffusers' schedulers, and the timestep conventions."""
import math

import pytest
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

from mmkd.diffusion.models import build_unet
from mmkd.diffusion.sampling import (alpha_at, configure_scheduler, ddim_sample,
                                     ddim_scheduler_overrides, ddim_step, ddim_timesteps,
                                     predict_x0_eps, scheduler_sample, training_target)

T = 1000


@pytest.fixture(scope='module')
def unet():
    torch.manual_seed(0)
    return build_unet(dict(sample_size=8, block_out_channels=(8, 16), norm_num_groups=4)).eval()


def ddim_scheduler(prediction_type='epsilon', **kwargs):
    return DDIMScheduler(num_train_timesteps=T, beta_schedule='squaredcos_cap_v2',
                         prediction_type=prediction_type, clip_sample=False, **kwargs)


def test_timesteps_are_the_documented_lists():
    assert ddim_timesteps(T, 1) == [999]
    assert ddim_timesteps(T, 2) == [999, 499]
    assert ddim_timesteps(T, 4) == [999, 749, 499, 249]
    assert ddim_timesteps(T, 3) == [999, 666, 332]             # N does not divide T
    assert ddim_timesteps(T, 3, 'stride') == [998, 665, 332]
    assert ddim_timesteps(T, 4, 'stride') == ddim_timesteps(T, 4)
    assert ddim_timesteps(T, 4, 'leading') == [750, 500, 250, 0]
    assert ddim_timesteps(T, 4, 'leading', steps_offset=1) == [751, 501, 251, 1]
    assert ddim_timesteps(T, 3, 'linspace') == [999, 500, 0]   # 499.5 rounds half to even


@pytest.mark.parametrize('spacing', ['trailing', 'leading', 'linspace'])
def test_timesteps_equal_diffusers_set_timesteps(spacing):
    scheduler = DDIMScheduler(num_train_timesteps=T, timestep_spacing=spacing)
    for n in list(range(1, 40)) + [64, 333, 999, 1000]:
        scheduler.set_timesteps(n)
        assert ddim_timesteps(T, n, spacing) == scheduler.timesteps.tolist(), n


def test_timestep_errors():
    with pytest.raises(ValueError, match='num_steps: expected 1..1000'):
        ddim_timesteps(T, 0)
    with pytest.raises(ValueError, match='num_steps: expected 1..1000'):
        ddim_timesteps(T, 1001)
    with pytest.raises(ValueError, match="spacing: expected one of"):
        ddim_timesteps(T, 4, 'cosine')
    with pytest.raises(ValueError, match='strictly decreasing'):
        ddim_sample(lambda x, t: x, torch.ones(T), [10, 10], torch.zeros(1))


def test_ddim_step_formulas_against_a_hand_computation():
    g = torch.Generator().manual_seed(0)
    x, out = torch.randn(2, 1, 4, 4, generator=g), torch.randn(2, 1, 4, 4, generator=g)
    a_t, a_prev = torch.tensor(0.3), torch.tensor(0.8)
    # epsilon: x0 = (x - sqrt(1-a) eps) / sqrt(a); x_prev = sqrt(a') x0 + sqrt(1-a') eps
    x0 = (x - math.sqrt(0.7) * out) / math.sqrt(0.3)
    prev, got_x0 = ddim_step(out, x, a_t, a_prev, 'epsilon')
    torch.testing.assert_close(got_x0, x0)
    torch.testing.assert_close(prev, math.sqrt(0.8) * x0 + math.sqrt(0.2) * out)
    # v: x0 = sqrt(a) x - sqrt(1-a) v, eps = sqrt(a) v + sqrt(1-a) x
    x0, eps = predict_x0_eps(out, x, a_t, 'v_prediction')
    torch.testing.assert_close(x0, math.sqrt(0.3) * x - math.sqrt(0.7) * out)
    torch.testing.assert_close(eps, math.sqrt(0.3) * out + math.sqrt(0.7) * x)
    # v of (x0, eps) recovers both, and x_t = sqrt(a) x0 + sqrt(1-a) eps
    v = training_target(x0, eps, a_t, 'v_prediction')
    back_x0, back_eps = predict_x0_eps(v, math.sqrt(0.3) * x0 + math.sqrt(0.7) * eps, a_t,
                                       'v_prediction')
    torch.testing.assert_close(back_x0, x0)
    torch.testing.assert_close(back_eps, eps)
    with pytest.raises(ValueError, match='prediction_type'):
        predict_x0_eps(out, x, a_t, 'sample')


@pytest.mark.parametrize('prediction_type', ['epsilon', 'v_prediction'])
@pytest.mark.parametrize('num_steps', [1, 2, 4])
def test_ddim_sample_equals_the_diffusers_ddim_loop(unet, prediction_type, num_steps):
    scheduler = ddim_scheduler(prediction_type, timestep_spacing='trailing')
    scheduler.set_timesteps(num_steps)
    timesteps = ddim_timesteps(T, num_steps)
    assert scheduler.timesteps.tolist() == timesteps
    noise = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(num_steps))
    ac = scheduler.alphas_cumprod
    with torch.no_grad():
        x = ours = noise
        for i, t in enumerate(scheduler.timesteps):    # step by step
            out = unet(x, t).sample
            x = scheduler.step(out, t, x).prev_sample
            a_prev = ac[timesteps[i + 1]] if i + 1 < num_steps else torch.tensor(1.0)
            ours, _ = ddim_step(out, ours, ac[int(t)], a_prev, prediction_type)
            torch.testing.assert_close(ours, x, rtol=0, atol=1e-5)
        sampled = ddim_sample(unet, ac, timesteps, noise, prediction_type)
    # same operations in the same order: equal even where 1-step epsilon divides by
    # sqrt(a_999) ~ 5e-5 (an untrained UNet then gives values ~ 1e4)
    assert float((sampled - x).abs().max()) <= 1e-5


def test_stochastic_ddim_draws_noise_like_diffusers(unet):
    scheduler = ddim_scheduler('v_prediction', timestep_spacing='trailing')
    noise = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        theirs = scheduler_sample(unet, scheduler, [999, 499], noise, eta=1.0,
                                  generator=torch.Generator().manual_seed(7))
        ours = ddim_sample(unet, scheduler, [999, 499], noise, 'v_prediction', eta=1.0,
                           generator=torch.Generator().manual_seed(7))
        deterministic = ddim_sample(unet, scheduler, [999, 499], noise, 'v_prediction')
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
    assert not torch.allclose(ours, deterministic)


def test_stock_ddim_is_wrong_for_trailing_when_steps_do_not_divide(unet):
    """The DDIM stride bug: trailing 3 steps are [999, 666, 332] but the scheduler steps
    666 -> 333. mmkd refuses to configure it, and 'stride' spacing is exported instead."""
    stock = ddim_scheduler(timestep_spacing='trailing')
    stock.set_timesteps(3)
    assert stock.timesteps.tolist() == [999, 666, 332]
    assert [t - T // 3 for t in stock.timesteps.tolist()] == [666, 333, -1]   # 333 != 332
    with pytest.raises(ValueError, match="spacing='stride'"):
        configure_scheduler(ddim_scheduler(), ddim_timesteps(T, 3))
    with pytest.raises(ValueError, match='cannot run'):
        ddim_scheduler_overrides(ddim_timesteps(T, 3, 'linspace'), T)
    # the wrong previous alpha changes the samples
    noise = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        x = noise
        for t in stock.timesteps:
            x = stock.step(unet(x, t).sample, t, x).prev_sample
        ours = ddim_sample(unet, stock.alphas_cumprod, [999, 666, 332], noise)
    assert float((x - ours).abs().max()) > 1e-4


@pytest.mark.parametrize('num_steps,spacing,expected', [
    (4, 'trailing', dict(timestep_spacing='trailing', steps_offset=0)),
    (3, 'stride', dict(timestep_spacing='leading', steps_offset=332)),
    (7, 'stride', dict(timestep_spacing='leading', steps_offset=141))])
def test_configured_ddim_scheduler_steps_exactly_our_timesteps(unet, num_steps, spacing,
                                                               expected):
    timesteps = ddim_timesteps(T, num_steps, spacing)
    overrides = ddim_scheduler_overrides(timesteps, T)
    assert {k: overrides[k] for k in expected} == expected
    assert overrides['set_alpha_to_one'] is True and overrides['clip_sample'] is False
    scheduler = configure_scheduler(ddim_scheduler(), timesteps)
    assert scheduler.timesteps.tolist() == timesteps
    prev = [t - T // scheduler.num_inference_steps for t in timesteps]
    assert prev[:-1] == timesteps[1:] and prev[-1] < 0
    noise = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs = scheduler_sample(unet, ddim_scheduler(), timesteps, noise)
        ours = ddim_sample(unet, scheduler.alphas_cumprod, timesteps, noise)
    assert float((ours - theirs).abs().max()) <= 1e-5


def test_dpm_solver_takes_our_timesteps_and_first_order_equals_ddim(unet):
    timesteps = ddim_timesteps(T, 3)
    dpm = DPMSolverMultistepScheduler(num_train_timesteps=T, beta_schedule='squaredcos_cap_v2',
                                      prediction_type='v_prediction', solver_order=1,
                                      final_sigmas_type='zero')
    assert configure_scheduler(dpm, timesteps).timesteps.tolist() == timesteps
    noise = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        theirs = scheduler_sample(unet, dpm, timesteps, noise)
        ours = ddim_sample(unet, dpm.alphas_cumprod, timesteps, noise, 'v_prediction')
    # first-order DPM-Solver++ is DDIM (computed in log-SNR form, hence the looser tolerance)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4)


def test_ddim_sample_is_differentiable(unet):
    noise = torch.randn(1, 1, 8, 8, requires_grad=True)
    out = ddim_sample(unet, ddim_scheduler().alphas_cumprod, [999, 499], noise, 'v_prediction')
    out.sum().backward()
    assert noise.grad is not None and noise.grad.abs().sum() > 0


def test_ddim_step_on_a_batch_of_different_timesteps_equals_per_sample_steps():
    """What step-distillation methods do: each sample at its own t, stepping to t - stride
    (alpha 1 once that passes 0)."""
    ac = ddim_scheduler().alphas_cumprod
    g = torch.Generator().manual_seed(0)
    x, out = torch.randn(3, 1, 4, 4, generator=g), torch.randn(3, 1, 4, 4, generator=g)
    t = torch.tensor([999, 400, 100])
    prev_t = t - 250
    a_t, a_prev = alpha_at(ac, t, like=x), alpha_at(ac, prev_t, like=x)
    assert a_t.shape == (3, 1, 1, 1) and float(a_prev[2]) == 1.0
    batch, _ = ddim_step(out, x, a_t, a_prev, 'v_prediction')
    for i in range(3):
        single, _ = ddim_step(out[i], x[i], ac[t[i]],
                              ac[prev_t[i]] if prev_t[i] >= 0 else torch.tensor(1.0),
                              'v_prediction')
        torch.testing.assert_close(batch[i], single)
    assert float(alpha_at(ac, -1)) == 1.0 and float(alpha_at(ac, 0)) == float(ac[0])
