"""DiffusionModel: its losses against an independent computation, its modes, EMA checkpoints."""
import math
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import TINY_UNET
from mmkd.diffusion.models import DiffusionModel
from mmkd.diffusion.sampling import ddim_sample, ddim_timesteps
from mmkd.fileio import has_ema_weights, load_state_dict_file, read_checkpoint
from mmkd.registry import MODELS


def tiny_model(prediction_type='epsilon', seed=0):
    torch.manual_seed(seed)
    return DiffusionModel(unet=TINY_UNET, scheduler=dict(prediction_type=prediction_type))


def cosine_alphas_cumprod(T=1000):
    """Nichol & Dhariwal's cosine schedule, betas capped at 0.999, in float64."""
    f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    betas = np.array([min(1 - f((i + 1) / T) / f(i / T), 0.999) for i in range(T)])
    return torch.from_numpy(np.cumprod(1 - betas))


def fixed_batch():
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(3, 1, 8, 8, generator=g) * 2 - 1
    noise = torch.randn(3, 1, 8, 8, generator=g)
    return x0, noise, torch.tensor([0, 500, 999])


def test_alphas_cumprod_is_the_cosine_schedule():
    model = tiny_model()
    torch.testing.assert_close(model.alphas_cumprod.double(), cosine_alphas_cumprod(),
                               rtol=1e-4, atol=1e-6)
    assert model.num_train_timesteps == 1000 and model.prediction_type == 'epsilon'


@pytest.mark.parametrize('prediction_type', ['epsilon', 'v_prediction'])
def test_denoising_loss_on_fixed_inputs(prediction_type):
    model = tiny_model(prediction_type)
    x0, noise, t = fixed_batch()
    a = cosine_alphas_cumprod()[t].float().view(-1, 1, 1, 1)
    noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
    target = noise if prediction_type == 'epsilon' else a.sqrt() * noise - (1 - a).sqrt() * x0
    with torch.no_grad():
        expected = ((model.unet(noisy, t).sample - target) ** 2).mean()
        loss = model.denoising_loss(x0, noise, t)
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-6)
    # the v target is not the epsilon target (except where a_t is 0 or 1)
    assert prediction_type == 'epsilon' or not torch.allclose(target, noise)


def test_loss_mode_draws_noise_then_timesteps():
    model = tiny_model()
    x0 = fixed_batch()[0]
    torch.manual_seed(5)
    with torch.no_grad():
        losses = model(x0, dict(labels=torch.zeros(3)), mode='loss')
    torch.manual_seed(5)
    noise = torch.randn_like(x0)
    t = torch.randint(0, 1000, (3,))
    with torch.no_grad():
        expected = model.denoising_loss(x0, noise, t)
    assert set(losses) == {'loss_diffusion'}
    torch.testing.assert_close(losses['loss_diffusion'], expected)


def test_tensor_mode_is_the_unet_output():
    model = tiny_model()
    x, t = fixed_batch()[1], torch.tensor([3, 30, 300])
    with torch.no_grad():
        expected = model.unet(x, t).sample
        torch.testing.assert_close(model(x, dict(timesteps=t), mode='tensor'), expected)
        torch.testing.assert_close(model(x, t, mode='tensor'), expected)
    with pytest.raises(KeyError, match="needs the timesteps"):
        model(x, dict(labels=t), mode='tensor')
    with pytest.raises(ValueError, match='mode: expected'):
        model(x, t, mode='sample')
    with pytest.raises(ValueError, match=r'inputs: expected images \[N, C, H, W\]'):
        model(x[0], t, mode='tensor')


def test_predict_mode_draws_ddim_samples():
    torch.manual_seed(0)
    model = DiffusionModel(unet=TINY_UNET, scheduler=dict(prediction_type='v_prediction'),
                           predict_steps=2)
    images, noise = fixed_batch()[:2]
    results = model(images, dict(noise=noise), mode='predict')
    with torch.no_grad():
        expected = ddim_sample(model.unet, model.alphas_cumprod, [999, 499], noise,
                               'v_prediction').clamp(-1, 1)
    assert len(results) == 3 and set(results[0]) == {'sample', 'gt'}
    torch.testing.assert_close(torch.stack([r['sample'] for r in results]), expected)
    torch.testing.assert_close(results[1]['gt'], images[1])


def test_state_dict_is_the_unet_and_config_errors():
    model = MODELS.build(dict(type='DiffusionModel', unet=TINY_UNET))
    assert all(k.startswith('unet.') for k in model.state_dict())
    assert 'alphas_cumprod' not in model.state_dict()
    assert type(model.scheduler).__name__ == 'DDPMScheduler'
    with pytest.raises(ValueError, match='scheduler.prediction_type'):
        DiffusionModel(unet=TINY_UNET, scheduler=dict(prediction_type='sample'))
    with pytest.raises(ValueError, match='scheduler.type'):
        DiffusionModel(unet=TINY_UNET, scheduler=dict(type='NoSuchScheduler'))
    with pytest.raises(ValueError, match='num_steps'):
        DiffusionModel(unet=TINY_UNET, predict_steps=0)
    assert ddim_timesteps(1000, 50)[0] == 999


def test_ema_checkpoint_gives_the_ema_weights(tmp_path):
    """A real MMEngine run with EMAHook: the checkpoint's ``state_dict`` is the EMA model and
    ``ema_state_dict`` (``module.*``) the raw weights; our loaders and the teacher loader agree."""
    from mmengine.runner import Runner
    cfg = dict(
        model=dict(type='DiffusionModel', unet=TINY_UNET),
        work_dir=str(tmp_path), default_scope='mmkd',
        train_dataloader=dict(
            batch_size=4, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            dataset=dict(type='SyntheticShapesImages', num_samples=16, image_size=8)),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2)),
        train_cfg=dict(by_epoch=False, max_iters=3),
        custom_hooks=[dict(type='EMAHook', momentum=0.5)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=3),
                           logger=dict(type='LoggerHook', interval=1)),
        log_level='WARNING', randomness=dict(seed=0))
    runner = Runner.from_cfg(cfg)
    runner.train()
    ema_hook = next(h for h in runner.hooks if type(h).__name__ == 'EMAHook')
    ema = ema_hook.ema_model.module.state_dict()
    raw = runner.model.state_dict()
    ckpt = osp.join(str(tmp_path), 'iter_3.pth')
    key = 'unet.conv_in.weight'
    assert not torch.allclose(ema[key], raw[key])
    loaded = load_state_dict_file(ckpt, 'ckpt', ema=True)
    assert set(loaded) == set(raw)
    for k in raw:
        torch.testing.assert_close(loaded[k], ema[k])
        torch.testing.assert_close(load_state_dict_file(ckpt, 'ckpt', ema=False)[k], raw[k])
    # what a teacher spec loads (state_dict as saved) is the EMA model
    torch.testing.assert_close(load_state_dict_file(ckpt, 'teacher')[key], ema[key])
    assert has_ema_weights(read_checkpoint(ckpt, 'ckpt'))
    unet_only = load_state_dict_file(ckpt, 'ckpt', prefix='unet.')
    assert 'conv_in.weight' in unet_only
    torch.testing.assert_close(unet_only['conv_in.weight'], ema[key])
    with pytest.raises(KeyError, match='ema_state_dict'):
        load_state_dict_file(dict(state_dict=raw), 'ckpt', ema=True)
    # without EMA, the training weights are the saved ones
    torch.testing.assert_close(load_state_dict_file(dict(state_dict=raw), 'ckpt', ema=False)[key],
                               raw[key])
