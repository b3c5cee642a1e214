"""Consistency distillation (Song et al. 2023, "Consistency Models", CD; as Latent Consistency
Models (Luo et al. 2023) implement it with a DDIM solver on diffusers' discrete timesteps).

The consistency function of the student (a ``DiffusionModel``, epsilon or v output)::

    f(x_t, t) = c_skip(t) x_t + c_out(t) x0^(x_t, t)
    c_skip(t) = s^2 / ((10 t)^2 + s^2),  c_out(t) = 10 t / sqrt((10 t)^2 + s^2),  s = 0.5

with ``x0^`` the x0-prediction of the UNet output (:func:`~mmkd.diffusion.sampling.predict_x0_eps`),
``sigma_data = s = 0.5`` and ``timestep_scaling = 10`` exactly as LCM's
``scalings_for_boundary_conditions`` and diffusers' ``LCMScheduler``: ``f(x, 0) = x`` (the
boundary condition at ``t_min = 0``); at ``t >= 19`` ``c_skip < 7e-6``.

Training, per sample (``eps`` drawn first, then the grid index; global torch RNG):

- solver grid of ``N = num_solver_steps`` (50) points ``t = (j + 1) (T // N) - 1``, i.e.
  ``[19, 39, ..., 999]`` (LCM's ``DDIMSolver`` grid, ``LCMScheduler``'s
  ``original_inference_steps``); ``t_{n+k}`` uniform on it and
  ``t_n = max(t_{n+k} - skip_timesteps, 0)`` (``skip_timesteps`` = k in training timesteps,
  default ``T // N = 20``: one grid interval, LCM's ``topk``);
- ``x_{t_{n+k}} = sqrt(a) x + sqrt(1 - a) eps``; the teacher's DDIM step (eta 0) gives
  ``x^_{t_n}`` (:meth:`ConsistencyDistillation.solver_step`; at ``t_n = 0`` it moves to
  ``alphas_cumprod[0]``, which is diffusers' ``DDIMScheduler`` with ``set_alpha_to_one=False``);
- ``loss = d(f_theta(x_{t_{n+k}}, t_{n+k}), stopgrad f_theta-(x^_{t_n}, t_n))`` with
  ``d`` = pseudo-Huber ``sqrt(||a - b||^2 + c^2) - c`` per sample, ``c = huber_c sqrt(dim)``
  (``huber_c=0.001``; iCT uses 0.00054), or ``'l2'``: the mean squared error;
- the target ``theta-`` (submodule ``target``, no gradients, in the state dict as
  ``target.unet.*``, so checkpoints save it and ``--resume`` restores it) is updated after every
  optimizer step, inside :meth:`ConsistencyDistillation.train_step`:
  ``theta- <- mu theta- + (1 - mu) theta`` (``ema_momentum`` mu = 0.95 as LCM). Under
  ``MMDistributedDataParallel`` (whose ``train_step`` does not call the module's), the update
  happens instead at the start of each training ``loss()``: the same rule, one step late.
  Do not also add MMEngine's ``EMAHook``.

Sampling: :func:`consistency_sample` is standard multistep consistency sampling: at each
timestep ``x0 = f(x, t)``, then re-noise to the next timestep with FRESH noise
(``sqrt(a') x0 + sqrt(1 - a') z``); the last step returns ``x0``. Its timesteps are
:func:`lcm_timesteps` (``LCMScheduler.set_timesteps(n)``: 1 -> [999], 2 -> [999, 499],
4 -> [999, 759, 499, 259]).

Export: :func:`mmkd.diffusion.pipeline_export.export_consistency_pipeline` writes a stock diffusers
folder, ``DDPMPipeline(unet, LCMScheduler)``: the pipeline draws the initial noise, calls the UNet
and ``LCMScheduler.step``, which computes exactly ``f`` (same ``c_skip``/``c_out``, ``sigma_data``
0.5 is hard-coded there) and re-noises with fresh noise from the pipeline's generator. So
``DiffusionPipeline.from_pretrained(out)(num_inference_steps=n, generator=...)`` equals
:func:`consistency_sample_like_pipeline` (checked on export; pass ``num_inference_steps``, the
pipeline's default of 1000 exceeds the 50-step grid). No CLI tool yet::

    python -c "from mmkd.diffusion.pipeline_export import export_consistency_pipeline as e; \
        print(e('configs/diffusion/cd_digits.py', 'work_dirs/cd_digits/iter_600.pth', 'out/cd'))"

``tools/export_sampler.py`` on a CD config/checkpoint instead writes a ``DDIMPipeline``:
deterministic DDIM (eta 0) re-noising with the predicted noise, from the raw x0-prediction (not
``f``: ``c_skip`` ignored, a relative difference below 1e-5 at ``t >= 19``) -- the deterministic
"LCM-style DDIM" sampler, a different sampler from consistency sampling.
"""
import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from mmkd.errors import InvalidValueError
from mmkd.registry import MODELS

from ..sampling import alpha_at, ddim_step, predict_x0_eps
from .base import StepDistillation, per_sample

__all__ = ['ConsistencyDistillation', 'boundary_scalings', 'consistency_function',
           'consistency_sample', 'consistency_sample_like_pipeline', 'lcm_timesteps',
           'pseudo_huber']

LOSS_TYPES = ('huber', 'l2')


def boundary_scalings(timesteps: Union[int, Tensor], sigma_data: float = 0.5,
                      timestep_scaling: float = 10.0) -> Tuple[Tensor, Tensor]:
    """``(c_skip, c_out)`` at integer timesteps (LCM's ``scalings_for_boundary_conditions``)."""
    t = torch.as_tensor(timesteps).float() * timestep_scaling
    c_skip = sigma_data ** 2 / (t ** 2 + sigma_data ** 2)
    c_out = t / (t ** 2 + sigma_data ** 2) ** 0.5
    return c_skip, c_out


def consistency_function(model: Any, x_t: Tensor, timesteps: Union[int, Tensor],
                         sigma_data: float = 0.5, timestep_scaling: float = 10.0) -> Tensor:
    """``f(x_t, t) = c_skip x_t + c_out x0^`` of a ``DiffusionModel`` (``t``: int, 0-dim or
    ``[N]``)."""
    t = torch.as_tensor(timesteps, device=x_t.device)
    x0, _ = predict_x0_eps(model.denoise(x_t, t), x_t, alpha_at(model.alphas_cumprod, t, x_t),
                           model.prediction_type)
    c_skip, c_out = boundary_scalings(t, sigma_data, timestep_scaling)
    if t.dim() == 1:
        c_skip, c_out = per_sample(c_skip, x_t), per_sample(c_out, x_t)
    return c_skip.to(x_t) * x_t + c_out.to(x_t) * x0


def pseudo_huber(a: Tensor, b: Tensor, c: Optional[float] = None,
                 huber_c: float = 0.001) -> Tensor:
    """Per-sample ``sqrt(||a - b||^2 + c^2) - c`` (``[N]``), ``c = huber_c * sqrt(dim)`` unless
    given (iCT's pseudo-Huber metric)."""
    d2 = ((a - b) ** 2).flatten(1).sum(1)
    if c is None:
        c = huber_c * a[0].numel() ** 0.5
    return (d2 + c ** 2).sqrt() - c


def lcm_timesteps(num_steps: int, num_train_timesteps: int = 1000,
                  original_steps: int = 50) -> List[int]:
    """``LCMScheduler.set_timesteps(num_steps)``'s timesteps: ``num_steps`` of the
    ``original_steps`` grid ``[T//N - 1, ..., T - 1]``, at indices ``floor(linspace(0, N, n,
    endpoint=False))`` from the top."""
    if not 1 <= num_steps <= original_steps:
        raise InvalidValueError(f'num_steps: expected 1..{original_steps}, got {num_steps}')
    grid = (np.arange(1, original_steps + 1) * (num_train_timesteps // original_steps) - 1)[::-1]
    index = np.floor(np.linspace(0, original_steps, num_steps, endpoint=False)).astype(np.int64)
    return [int(t) for t in grid[index]]


@torch.no_grad()
def consistency_sample(student: Any, timesteps: Sequence[int], noise: Tensor,
                       generator: Optional[torch.Generator] = None, sigma_data: float = 0.5,
                       timestep_scaling: float = 10.0) -> Tensor:
    """Multistep consistency sampling from ``noise`` (= ``x_{t_0}``) over decreasing
    ``timesteps``: ``x0 = f(x, t_i)``; unless last, ``x = sqrt(a_{i+1}) x0 + sqrt(1 - a_{i+1}) z``
    with fresh ``z = torch.randn(shape, generator=generator)`` (on CPU, as diffusers'
    ``randn_tensor``). Returns the last ``x0`` (not clamped)."""
    x, ac = noise, student.alphas_cumprod
    for i, t in enumerate(timesteps):
        x0 = consistency_function(student, x, torch.tensor(int(t), dtype=torch.int64),
                                  sigma_data, timestep_scaling)
        if i + 1 == len(timesteps):
            return x0
        a_next = ac[int(timesteps[i + 1])].to(x)
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        x = a_next.sqrt() * x0 + (1 - a_next).sqrt() * z
    return x


@torch.no_grad()
def consistency_sample_like_pipeline(student: Any, num_steps: int, seed: int,
                                     batch_size: int = 1, original_steps: int = 50,
                                     timestep_scaling: float = 10.0) -> Tensor:
    """What the exported ``DDPMPipeline`` + ``LCMScheduler`` draws for
    ``generator=torch.Generator().manual_seed(seed)`` (``output_type='pt'``): ``[B, C, H, W]``
    in [0, 1]. One generator gives the initial noise, then each re-noising."""
    generator = torch.Generator().manual_seed(int(seed))
    size = student.unet.config.sample_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    noise = torch.randn((batch_size, student.unet.config.in_channels, *size),
                        generator=generator, dtype=student.unet.dtype)
    timesteps = lcm_timesteps(num_steps, student.num_train_timesteps, original_steps)
    x = consistency_sample(student, timesteps, noise, generator, 0.5, timestep_scaling)
    return (x / 2 + 0.5).clamp(0, 1)


@MODELS.register_module()
class ConsistencyDistillation(StepDistillation):
    """Consistency distillation with a DDIM teacher solver and an EMA target (module docstring).

    Args:
        student, teacher, init_from_teacher: see :class:`StepDistillation`; the target starts
            as a copy of the (initialised) student.
        num_solver_steps: N of the solver grid ``[T//N - 1, ..., T - 1]`` (LCM: 50).
        skip_timesteps: k, the teacher's solver step in training timesteps (default ``T // N``).
        ema_momentum: mu of ``theta- <- mu theta- + (1 - mu) theta``.
        loss_type: ``'huber'`` (pseudo-Huber, ``c = huber_c sqrt(dim)``) or ``'l2'``.
        sigma_data, timestep_scaling: of ``c_skip``/``c_out`` (export needs ``sigma_data=0.5``).
        predict_steps: consistency sampling steps of ``mode='predict'`` (:func:`lcm_timesteps`).
    """

    def __init__(self, student: Dict[str, Any], teacher: Dict[str, Any],
                 num_solver_steps: int = 50, skip_timesteps: Optional[int] = None,
                 ema_momentum: float = 0.95, loss_type: str = 'huber', huber_c: float = 0.001,
                 sigma_data: float = 0.5, timestep_scaling: float = 10.0, predict_steps: int = 4,
                 init_from_teacher: bool = True, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(student, teacher, init_from_teacher, data_preprocessor, init_cfg)
        T, N = self.num_train_timesteps, int(num_solver_steps)
        if not 1 <= N <= T:
            raise InvalidValueError(f'model.num_solver_steps: expected 1..{T}, got {N}')
        skip = T // N if skip_timesteps is None else int(skip_timesteps)
        if not 1 <= skip < T:
            raise InvalidValueError(f'model.skip_timesteps: expected 1..{T - 1}, got {skip}')
        if not 0 <= ema_momentum < 1:
            raise InvalidValueError(f'model.ema_momentum: expected 0 <= mu < 1, got {ema_momentum}')
        if loss_type not in LOSS_TYPES:
            raise InvalidValueError(f'model.loss_type: expected one of {LOSS_TYPES}, got '
                                    f'{loss_type!r}')
        lcm_timesteps(predict_steps, T, N)  # validate
        self.num_solver_steps, self.skip_timesteps = N, skip
        self.ema_momentum, self.loss_type, self.huber_c = ema_momentum, loss_type, huber_c
        self.sigma_data, self.timestep_scaling = sigma_data, timestep_scaling
        self.predict_steps = predict_steps
        self.register_buffer('_grid', torch.arange(1, N + 1) * (T // N) - 1, persistent=False)
        self.target = copy.deepcopy(self.student)
        self.target.requires_grad_(False)
        self._in_train_step = False
        self.train(True)

    def train(self, mode: bool = True) -> 'ConsistencyDistillation':
        super().train(mode)
        if hasattr(self, 'target'):
            self.target.eval()
        return self

    @torch.no_grad()
    def update_target(self) -> None:
        """``theta- <- mu theta- + (1 - mu) theta`` (parameters; buffers copied)."""
        mu = self.ema_momentum
        for t, s in zip(self.target.parameters(), self.student.parameters()):
            t.mul_(mu).add_(s.detach(), alpha=1 - mu)
        for t, s in zip(self.target.buffers(), self.student.buffers()):
            t.copy_(s)

    def train_step(self, data: Any, optim_wrapper: Any) -> Dict[str, Tensor]:
        """MMEngine's step (forward, backward, optimizer), then the target update when the
        optimizer stepped (not on gradient-accumulation micro-steps)."""
        self._in_train_step = True
        try:
            log_vars = super().train_step(data, optim_wrapper)
        finally:
            self._in_train_step = False
        if optim_wrapper.should_update():
            self.update_target()
        return log_vars

    @torch.no_grad()
    def solver_step(self, x_t: Tensor, t: Tensor, t_prev: Tensor) -> Tensor:
        """The teacher's deterministic DDIM step ``x_t -> x_{t_prev}`` (``t_prev >= 0``)."""
        ac, teacher = self.alphas_cumprod, self.teacher
        out = teacher.denoise(x_t.to(self.teacher_spec.dtype), t).float()
        x_prev, _ = ddim_step(out, x_t, alpha_at(ac, t, x_t), alpha_at(ac, t_prev, x_t),
                              teacher.prediction_type)
        return x_prev

    def f(self, model: Any, x_t: Tensor, t: Tensor) -> Tensor:
        return consistency_function(model, x_t, t, self.sigma_data, self.timestep_scaling)

    def distance(self, pred: Tensor, target: Tensor) -> Tensor:
        if self.loss_type == 'l2':
            return F.mse_loss(pred, target)
        return pseudo_huber(pred, target, huber_c=self.huber_c).mean()

    def distillation_loss(self, x0: Tensor, noise: Tensor, index: Tensor) -> Tensor:
        t = self._grid[index]
        t_prev = (t - self.skip_timesteps).clamp(min=0)
        a_t = alpha_at(self.alphas_cumprod, t, x0)
        x_t = a_t ** 0.5 * x0 + (1 - a_t) ** 0.5 * noise
        with torch.no_grad():
            target = self.f(self.target, self.solver_step(x_t, t, t_prev), t_prev)
        return self.distance(self.f(self.student, x_t, t), target)

    def loss(self, inputs: Tensor, data_samples: Any = None) -> Dict[str, Tensor]:
        if self.training and not self._in_train_step:
            self.update_target()    # DDP wrapper path: see the module docstring
        noise = torch.randn_like(inputs)
        index = torch.randint(0, self.num_solver_steps, (inputs.shape[0],), device=inputs.device)
        return dict(loss_cd=self.distillation_loss(inputs, noise, index))

    def sample(self, noise: Tensor) -> Tensor:
        timesteps = lcm_timesteps(self.predict_steps, self.num_train_timesteps,
                                  self.num_solver_steps)
        return consistency_sample(self.student, timesteps, noise, None, self.sigma_data,
                                  self.timestep_scaling)
