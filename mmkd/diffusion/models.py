"""An MMEngine adapter around a diffusers ``UNet2DModel`` and its noise schedule.

``DiffusionModel`` is what teachers are trained as and what step-distillation methods
(``mmkd/diffusion/methods/``) wrap as teacher and student. Its ``state_dict`` is the UNet's, under
the prefix ``unet.`` (the schedule is rebuilt from the config, not saved).

Batch format: ``inputs = FloatTensor[N, C, H, W]`` of clean images in [-1, 1] (the datasets of
:mod:`mmkd.diffusion.datasets`), ``data_samples = dict(labels=..., sample_idx=...)`` (unused
by the loss).

Modes of ``forward(inputs, data_samples, mode)``:

- ``'loss'``: ``dict(loss_diffusion=MSE(unet(x_t, t), target))`` with ``noise ~ N(0, I)`` drawn
  first, then ``t ~ U{0..T-1}`` per sample (global torch RNG), ``x_t = scheduler.add_noise(x0,
  noise, t)`` and ``target = noise`` (``prediction_type='epsilon'``) or
  ``scheduler.get_velocity(x0, noise, t)`` (``'v_prediction'``). See :meth:`denoising_loss`
  for the same with given noise and timesteps.
- ``'tensor'``: the raw UNet output for noisy images: ``inputs`` = ``x_t`` ``[N, C, H, W]``,
  ``data_samples = dict(timesteps=LongTensor[N] or int)`` (or pass ``timesteps`` as a plain
  tensor/int instead of the dict). Same as :meth:`denoise`.
- ``'predict'``: draws ``N = len(inputs)`` samples with DDIM over
  ``ddim_timesteps(T, predict_steps, predict_spacing)`` from ``torch.randn_like(inputs)`` (or
  ``data_samples['noise']``); returns one ``dict(sample=[C, H, W] in [-1, 1] (clamped),
  gt=inputs[i])`` per image.

Attributes for methods: ``unet``, ``scheduler`` (the diffusers noise scheduler, built from the
``scheduler`` config), ``alphas_cumprod`` (a non-persistent float32 buffer), ``prediction_type``
and ``num_train_timesteps``.
"""
import copy
from typing import Any, Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor

from mmkd.errors import ConfigError, InvalidValueError
from mmkd.registry import MODELS

from .sampling import PREDICTION_TYPES, build_noise_scheduler, ddim_sample, ddim_timesteps

__all__ = ['DiffusionModel', 'DEFAULT_UNET', 'DEFAULT_SCHEDULER', 'build_unet']

#: A small UNet for 16x16 grayscale images (0.65 M parameters with the default blocks).
DEFAULT_UNET = dict(sample_size=16, in_channels=1, out_channels=1, block_out_channels=(32, 64),
                    layers_per_block=1, norm_num_groups=8)
DEFAULT_SCHEDULER = dict(type='DDPMScheduler', num_train_timesteps=1000,
                         beta_schedule='squaredcos_cap_v2', prediction_type='epsilon')


def build_unet(cfg: Optional[Dict[str, Any]] = None):
    """A diffusers ``UNet2DModel`` from ``DEFAULT_UNET`` updated with ``cfg``. Block types
    default to plain ``DownBlock2D`` / ``UpBlock2D``, one per ``block_out_channels`` entry."""
    from diffusers import UNet2DModel
    cfg = {**DEFAULT_UNET, **(cfg or {})}
    cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}
    levels = len(cfg['block_out_channels'])
    cfg.setdefault('down_block_types', ('DownBlock2D',) * levels)
    cfg.setdefault('up_block_types', ('UpBlock2D',) * levels)
    return UNet2DModel(**cfg)


@MODELS.register_module()
class DiffusionModel(BaseModel):
    """A denoising UNet trained with the standard DDPM objective.

    Args:
        unet: ``UNet2DModel`` keyword arguments, over :data:`DEFAULT_UNET`.
        scheduler: a diffusers noise scheduler config with its ``type``, over
            :data:`DEFAULT_SCHEDULER` (``prediction_type``: ``'epsilon'`` or ``'v_prediction'``).
        predict_steps: DDIM steps of ``mode='predict'``.
        predict_spacing: timestep spacing of ``mode='predict'`` (see
            :func:`mmkd.diffusion.sampling.ddim_timesteps`).
    """

    def __init__(self, unet: Optional[Dict[str, Any]] = None,
                 scheduler: Optional[Dict[str, Any]] = None, predict_steps: int = 50,
                 predict_spacing: str = 'trailing', data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.unet = build_unet(unet)
        self.scheduler_cfg = {**DEFAULT_SCHEDULER, **copy.deepcopy(dict(scheduler or {}))}
        self.scheduler = build_noise_scheduler(self.scheduler_cfg)
        self.prediction_type = self.scheduler.config.prediction_type
        if self.prediction_type not in PREDICTION_TYPES:
            raise InvalidValueError('scheduler.prediction_type: expected one of '
                                    f'{PREDICTION_TYPES}, got {self.prediction_type!r}')
        self.num_train_timesteps = int(self.scheduler.config.num_train_timesteps)
        self.register_buffer('alphas_cumprod', self.scheduler.alphas_cumprod.clone(),
                             persistent=False)
        ddim_timesteps(self.num_train_timesteps, predict_steps, predict_spacing)  # validate
        self.predict_steps, self.predict_spacing = predict_steps, predict_spacing

    def forward(self, inputs: Tensor, data_samples: Optional[Any] = None,
                mode: str = 'tensor') -> Any:
        if not isinstance(inputs, Tensor) or inputs.dim() != 4:
            raise InvalidValueError('inputs: expected images [N, C, H, W], got '
                                    f'{getattr(inputs, "shape", type(inputs))}')
        if mode == 'loss':
            noise = torch.randn_like(inputs)
            timesteps = torch.randint(0, self.num_train_timesteps, (inputs.shape[0],),
                                      device=inputs.device)
            return dict(loss_diffusion=self.denoising_loss(inputs, noise, timesteps))
        if mode == 'tensor':
            timesteps = data_samples.get('timesteps') if isinstance(data_samples, dict) \
                else data_samples
            if timesteps is None:
                raise ConfigError("data_samples: mode='tensor' needs the timesteps, as "
                                  "data_samples=dict(timesteps=LongTensor[N]) or a tensor/int")
            return self.denoise(inputs, timesteps)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise InvalidValueError(f"mode: expected 'tensor', 'loss' or 'predict', got {mode!r}")

    def denoise(self, sample: Tensor, timesteps: Union[int, Tensor]) -> Tensor:
        """The UNet's output (epsilon or v) for noisy ``sample`` at integer ``timesteps``."""
        return self.unet(sample, timesteps).sample

    def add_noise(self, x0: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
        """``sqrt(a_t) x0 + sqrt(1 - a_t) noise`` (diffusers ``add_noise``)."""
        return self.scheduler.add_noise(x0, noise, timesteps)

    def target(self, x0: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
        """The regression target: ``noise`` or ``v = sqrt(a_t) noise - sqrt(1 - a_t) x0``."""
        if self.prediction_type == 'epsilon':
            return noise
        return self.scheduler.get_velocity(x0, noise, timesteps)

    def denoising_loss(self, x0: Tensor, noise: Tensor, timesteps: Tensor) -> Tensor:
        """Mean squared error between the UNet output at ``add_noise(x0, noise, t)`` and
        :meth:`target`, over all elements."""
        noisy = self.add_noise(x0, noise, timesteps)
        return F.mse_loss(self.denoise(noisy, timesteps), self.target(x0, noise, timesteps))

    @torch.no_grad()
    def predict(self, inputs: Tensor,
                data_samples: Optional[Any] = None) -> List[Dict[str, Tensor]]:
        """DDIM samples, one per input image (see the module docstring)."""
        noise = data_samples.get('noise') if isinstance(data_samples, dict) else None
        if noise is None:
            noise = torch.randn_like(inputs)
        timesteps = ddim_timesteps(self.num_train_timesteps, self.predict_steps,
                                   self.predict_spacing)
        samples = ddim_sample(self.unet, self.alphas_cumprod, timesteps, noise,
                              self.prediction_type).clamp(-1, 1)
        return [dict(sample=s, gt=x) for s, x in zip(samples, inputs)]
