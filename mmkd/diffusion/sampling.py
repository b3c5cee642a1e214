"""Few-step samplers with explicit timesteps, and the diffusers noise schedulers they mirror.

Conventions (shared by training, distillation methods and export):

- Images live in [-1, 1]. ``alphas_cumprod[t]`` is diffusers' cumulative product of
  ``1 - beta`` for the integer training timestep ``t`` in ``[0, num_train_timesteps)``; the noisy
  sample is ``x_t = sqrt(a_t) x_0 + sqrt(1 - a_t) eps``.
- A sampler is a *decreasing list of integer timesteps* ``[t_0 > t_1 > ... > t_{N-1}]``, built by
  :func:`ddim_timesteps` and passed explicitly. Step ``i`` goes from ``t_i`` to ``t_{i+1}``: the
  "previous" alpha is ``alphas_cumprod[t_{i+1}]``, read from the NEXT entry of the list, and the
  last step goes to ``alpha = 1`` (a clean image; diffusers' ``set_alpha_to_one=True``).
  Nothing is derived from a fixed stride.
- Why: diffusers' ``DDIMScheduler.step`` finds the previous timestep as
  ``t - num_train_timesteps // num_inference_steps``. That is right only for arithmetic timestep
  lists with exactly that stride; it is wrong for ``'linspace'`` spacing and off by one for
  ``'trailing'`` when the step count does not divide the training steps (1000 steps, N=3:
  trailing gives ``[999, 666, 332]`` but the scheduler steps 666 -> 333, then 332 -> -1).
  :func:`ddim_scheduler_overrides` says when a stock ``DDIMScheduler`` reproduces a list exactly
  (and how to configure it), and refuses otherwise.
- Conditioning: with ``beta_schedule='squaredcos_cap_v2'``, ``alphas_cumprod[999]`` is about
  2.4e-9, so an epsilon model's ``x0 = (x - sqrt(1-a) eps) / sqrt(a)`` at ``t = 999`` multiplies
  its error by about 2e4. Few-step students are better trained with ``'v_prediction'`` (whose
  ``x0 = sqrt(a) x - sqrt(1-a) v`` is well conditioned everywhere), as progressive distillation
  does.

Public API::

    ddim_timesteps(num_train_timesteps, num_steps, spacing='trailing', steps_offset=0) -> list[int]
    ddim_sample(unet, alphas_cumprod, timesteps, noise, prediction_type='epsilon', eta=0.0,
                generator=None, clip_sample=False, return_x0=False) -> x (or (x, [x0 per step]))
    ddim_step(model_output, sample, alpha_prod_t, alpha_prod_prev, prediction_type, ...)
        -> (x_prev, x0)
    alpha_at(alphas_cumprod, timesteps, like) -> per-sample alphas, 1 where t < 0
    predict_x0_eps(model_output, sample, alpha_prod_t, prediction_type) -> (x0, eps)
    training_target(x0, noise, alpha_prod_t, prediction_type) -> Tensor
    build_noise_scheduler(cfg) -> a diffusers scheduler; alphas_cumprod_of(scheduler_or_cfg)
    ddim_scheduler_overrides(timesteps, num_train_timesteps) -> dict of DDIMScheduler settings
    configure_scheduler(scheduler, timesteps) -> scheduler whose ``timesteps`` equal ``timesteps``
    scheduler_sample(unet, scheduler, timesteps, noise, **step_kwargs) -> Tensor
    sample_like_pipeline(unet, scheduler, num_steps, seed, batch_size=1, spacing='trailing')
"""
import copy
import inspect
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from mmkd.errors import InvalidValueError, StateError, WrongTypeError

__all__ = ['SPACINGS', 'ddim_timesteps', 'ddim_sample', 'ddim_step', 'predict_x0_eps', 'alpha_at',
           'training_target', 'build_noise_scheduler', 'alphas_cumprod_of',
           'ddim_scheduler_overrides', 'configure_scheduler', 'scheduler_sample',
           'sample_like_pipeline', 'unet_output', 'pipeline_noise']

PREDICTION_TYPES = ('epsilon', 'v_prediction')
#: ``trailing``, ``leading`` and ``linspace`` are diffusers' ``timestep_spacing`` values (same
#: lists as ``DDIMScheduler.set_timesteps``); ``stride`` is mmkd's
#: ``[(N - k) * (T // N) - 1 for k in range(N)]``: trailing when N divides T, and for every N a
#: list that a stock ``DDIMScheduler`` steps exactly (exported with ``leading`` spacing and
#: ``steps_offset = T // N - 1``).
SPACINGS = ('trailing', 'leading', 'linspace', 'stride')


def ddim_timesteps(num_train_timesteps: int, num_steps: int, spacing: str = 'trailing',
                   steps_offset: int = 0) -> List[int]:
    """The decreasing integer timesteps of an ``num_steps``-step sampler.

    ``trailing`` (the default; Lin et al. 2023, table 2): ``round(T - k * T / N) - 1`` for
    ``k = 0..N-1``, e.g. ``(1000, 4) -> [999, 749, 499, 249]``, ``(1000, 3) -> [999, 666, 332]``;
    it always starts at ``T - 1`` (pure noise). ``leading``: ``k * (T // N) + steps_offset``,
    reversed. ``linspace``: ``round(linspace(0, T - 1, N))``, reversed. ``stride``: see
    :data:`SPACINGS`, e.g. ``(1000, 3) -> [998, 665, 332]``. The first three equal diffusers'
    ``DDIMScheduler.set_timesteps`` (numpy rounding, half to even), which the tests check.
    """
    T, N = int(num_train_timesteps), int(num_steps)
    if not 1 <= N <= T:
        raise InvalidValueError(f'num_steps: expected 1..{T} (num_train_timesteps), got '
                                f'{num_steps}')
    if spacing == 'trailing':
        timesteps = np.round(np.arange(T, 0, -T / N)).astype(np.int64) - 1
    elif spacing == 'leading':
        timesteps = (np.arange(0, N) * (T // N)).round()[::-1].astype(np.int64) + steps_offset
    elif spacing == 'linspace':
        timesteps = np.linspace(0, T - 1, N).round()[::-1].astype(np.int64)
    elif spacing == 'stride':
        timesteps = (np.arange(N, 0, -1) * (T // N) - 1).astype(np.int64)
    else:
        raise InvalidValueError(f'spacing: expected one of {SPACINGS}, got {spacing!r}')
    timesteps = [int(t) for t in timesteps]
    _check_timesteps(timesteps, T)
    return timesteps


def _check_timesteps(timesteps: Sequence[int], num_train_timesteps: int) -> None:
    if len(timesteps) == 0:
        raise InvalidValueError('timesteps: expected at least one timestep')
    if any(not 0 <= t < num_train_timesteps for t in timesteps):
        raise InvalidValueError(f'timesteps: expected integers in [0, {num_train_timesteps}), got '
                         f'{list(timesteps)}')
    if any(a <= b for a, b in zip(timesteps, timesteps[1:])):
        raise InvalidValueError('timesteps: expected a strictly decreasing list, got '
                                f'{list(timesteps)}')


# --------------------------------------------------------------------------- the DDIM formulas

def predict_x0_eps(model_output: Tensor, sample: Tensor, alpha_prod_t: Tensor,
                   prediction_type: str) -> Tuple[Tensor, Tensor]:
    """``(x0, eps)`` predicted from the network output at ``x_t`` (formula 12 of DDIM).

    ``alpha_prod_t`` is a 0-dim tensor or broadcastable to ``sample`` (``[N, 1, 1, 1]`` for
    per-sample timesteps). ``epsilon``: ``x0 = (x_t - sqrt(1-a) out) / sqrt(a)``;
    ``v_prediction``: ``x0 = sqrt(a) x_t - sqrt(1-a) v``, ``eps = sqrt(a) v + sqrt(1-a) x_t``.
    """
    beta_prod_t = 1 - alpha_prod_t
    if prediction_type == 'epsilon':
        return (sample - beta_prod_t ** 0.5 * model_output) / alpha_prod_t ** 0.5, model_output
    if prediction_type == 'v_prediction':
        return (alpha_prod_t ** 0.5 * sample - beta_prod_t ** 0.5 * model_output,
                alpha_prod_t ** 0.5 * model_output + beta_prod_t ** 0.5 * sample)
    raise InvalidValueError(f'prediction_type: expected one of {PREDICTION_TYPES}, got '
                            f'{prediction_type!r}')


def training_target(x0: Tensor, noise: Tensor, alpha_prod_t: Tensor,
                    prediction_type: str) -> Tensor:
    """What the network learns to output: ``noise`` (epsilon) or
    ``v = sqrt(a) eps - sqrt(1-a) x0`` (v-prediction, as diffusers' ``get_velocity``)."""
    if prediction_type == 'epsilon':
        return noise
    if prediction_type == 'v_prediction':
        return alpha_prod_t ** 0.5 * noise - (1 - alpha_prod_t) ** 0.5 * x0
    raise InvalidValueError(f'prediction_type: expected one of {PREDICTION_TYPES}, got '
                            f'{prediction_type!r}')


def alpha_at(alphas_cumprod: Tensor, timesteps: Union[int, Tensor],
             like: Optional[Tensor] = None) -> Tensor:
    """``alphas_cumprod[t]`` for integer timesteps (scalar or ``[N]``), with alpha = 1 where
    ``t < 0`` (the clean end of a sampler: a step "to t - stride" that passes 0 lands on the
    image). With ``like`` (``[N, C, H, W]``), shaped ``[N, 1, 1, 1]`` on its device and dtype,
    ready to broadcast in :func:`ddim_step` for a batch of different timesteps."""
    t = torch.as_tensor(timesteps, device=alphas_cumprod.device)
    alpha = torch.where(t >= 0, alphas_cumprod[t.clamp(min=0)],
                        torch.ones((), dtype=alphas_cumprod.dtype, device=alphas_cumprod.device))
    if like is not None:
        alpha = alpha.to(device=like.device, dtype=like.dtype)
        if alpha.dim() == 1:
            alpha = alpha.view(-1, *([1] * (like.dim() - 1)))
    return alpha


def ddim_step(model_output: Tensor, sample: Tensor, alpha_prod_t: Tensor,
              alpha_prod_prev: Tensor, prediction_type: str = 'epsilon', eta: float = 0.0,
              generator: Optional[torch.Generator] = None, clip_sample: bool = False,
              variance_noise: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """One DDIM update ``x_t -> x_prev``; returns ``(x_prev, x0)``. Differentiable.

    ``x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev - sigma^2) eps + sigma z`` with
    ``sigma = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev)``; ``z`` is
    ``variance_noise`` or drawn like diffusers (``torch.randn(shape, generator=generator)``), only
    when ``eta > 0``. The operations are those of ``DDIMScheduler.step``, in its order.
    """
    x0, eps = predict_x0_eps(model_output, sample, alpha_prod_t, prediction_type)
    if clip_sample:
        x0 = x0.clamp(-1, 1)
    beta_prod_t, beta_prod_prev = 1 - alpha_prod_t, 1 - alpha_prod_prev
    variance = (beta_prod_prev / beta_prod_t) * (1 - alpha_prod_t / alpha_prod_prev)
    std_dev_t = eta * variance ** 0.5
    direction = (1 - alpha_prod_prev - std_dev_t ** 2) ** 0.5 * eps
    prev = alpha_prod_prev ** 0.5 * x0 + direction
    if eta > 0:
        if variance_noise is None:
            variance_noise = torch.randn(model_output.shape, generator=generator,
                                         dtype=model_output.dtype).to(model_output.device)
        prev = prev + std_dev_t * variance_noise
    return prev, x0


def unet_output(unet: Any, sample: Tensor, timestep: Union[int, Tensor]) -> Tensor:
    """``unet(sample, timestep)`` as a tensor (a diffusers ``UNet2DModel`` returns
    ``UNet2DOutput``; plain callables returning tensors work too)."""
    out = unet(sample, timestep)
    return out.sample if hasattr(out, 'sample') else out


def ddim_sample(unet: Any, alphas_cumprod: Union[Tensor, Any], timesteps: Sequence[int],
                noise: Tensor, prediction_type: str = 'epsilon', eta: float = 0.0,
                generator: Optional[torch.Generator] = None, clip_sample: bool = False,
                return_x0: bool = False) -> Union[Tensor, Tuple[Tensor, List[Tensor]]]:
    """Deterministic (``eta=0``) DDIM from ``noise`` (= ``x_{t_0}``) over explicit ``timesteps``.

    Step ``i`` calls ``unet(x, t_i)`` with ``t_i`` a 0-dim int64 tensor (as ``DDIMPipeline``
    does) and moves to ``alphas_cumprod[t_{i+1}]``; the last step moves to alpha = 1, so the
    result is the predicted clean image ``x0`` of the last step (in [-1, 1] for a trained
    model; not clamped). ``alphas_cumprod`` may be a tensor, a diffusers scheduler or a scheduler
    config dict. Gradients flow when called outside ``torch.no_grad()``. With ``return_x0``
    also returns each step's ``x0`` prediction.
    """
    alphas_cumprod = alphas_cumprod_of(alphas_cumprod)
    timesteps = [int(t) for t in timesteps]
    _check_timesteps(timesteps, len(alphas_cumprod))
    final_alpha = torch.tensor(1.0, dtype=alphas_cumprod.dtype)
    x, x0s = noise, []
    for i, t in enumerate(timesteps):
        model_output = unet_output(unet, x, torch.tensor(t, dtype=torch.int64, device=x.device))
        alpha_prev = alphas_cumprod[timesteps[i + 1]] if i + 1 < len(timesteps) else final_alpha
        x, x0 = ddim_step(model_output, x, alphas_cumprod[t].to(x.device),
                          alpha_prev.to(x.device), prediction_type, eta, generator, clip_sample)
        x0s.append(x0)
    return (x, x0s) if return_x0 else x


# ------------------------------------------------------------------ stock diffusers schedulers

def build_noise_scheduler(cfg: Union[Dict[str, Any], Any]) -> Any:
    """A diffusers scheduler from ``dict(type='DDPMScheduler', **its_config)`` (any class in
    ``diffusers``: ``DDPMScheduler``, ``DDIMScheduler``, ``DPMSolverMultistepScheduler``...).
    A scheduler instance is returned as is."""
    if not isinstance(cfg, dict):
        return cfg
    import diffusers
    cfg = dict(cfg)
    name = cfg.pop('type', 'DDPMScheduler')
    cls = getattr(diffusers, name, None)
    if cls is None or not hasattr(cls, 'set_timesteps'):
        raise InvalidValueError(f'scheduler.type: {name!r} is not a diffusers scheduler')
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})


def alphas_cumprod_of(source: Union[Tensor, Dict[str, Any], Any]) -> Tensor:
    """``alphas_cumprod`` (float32, CPU) of a tensor, a diffusers scheduler or a config dict."""
    if isinstance(source, Tensor):
        return source
    return build_noise_scheduler(source).alphas_cumprod


def ddim_scheduler_overrides(timesteps: Sequence[int], num_train_timesteps: int) -> Dict[str, Any]:
    """``DDIMScheduler`` settings under which ``set_timesteps(len(timesteps))`` then ``step`` runs
    exactly ``timesteps`` with mmkd's conventions, or ``ValueError``.

    ``DDIMScheduler.step`` moves from ``t`` to ``t - T // N`` (alpha = 1 when that is negative,
    with ``set_alpha_to_one=True``). So the list must be arithmetic with stride ``s = T // N`` and
    end below ``s``. Then ``trailing`` spacing is chosen when it yields the list (true for every
    N that divides T: the scheduler then works for all such N), else ``leading`` with
    ``steps_offset = timesteps[-1]`` (valid for this N only).
    """
    timesteps = [int(t) for t in timesteps]
    T, N = int(num_train_timesteps), len(timesteps)
    _check_timesteps(timesteps, T)
    stride = T // N
    expected = [timesteps[-1] + (N - 1 - k) * stride for k in range(N)]
    if timesteps != expected or timesteps[-1] >= stride:
        raise InvalidValueError(
            f'timesteps {timesteps}: a stock DDIMScheduler cannot run them. It steps from t to '
            f't - {T} // {N} = t - {stride} and uses alpha = 1 only below 0, so it needs '
            f'{[(N - k) * stride - 1 for k in range(N)]}-like lists (stride {stride}, last '
            f"< {stride}). Use spacing='stride' (or 'trailing' with a step count that divides "
            f'{T}).')
    settings = dict(set_alpha_to_one=True, clip_sample=False, thresholding=False,
                    rescale_betas_zero_snr=False)
    if timesteps == ddim_timesteps(T, N, 'trailing'):
        return dict(settings, timestep_spacing='trailing', steps_offset=0)
    return dict(settings, timestep_spacing='leading', steps_offset=timesteps[-1])


def configure_scheduler(scheduler: Any, timesteps: Sequence[int], device=None) -> Any:
    """A copy of the diffusers ``scheduler`` whose ``timesteps`` are exactly ``timesteps``.

    Schedulers whose ``set_timesteps`` takes ``timesteps=`` (``DPMSolverMultistepScheduler``,
    ``DDPMScheduler``...) get them directly. ``DDIMScheduler`` (no custom timesteps in diffusers
    0.42) is rebuilt with :func:`ddim_scheduler_overrides` and ``set_timesteps(N)``. Either way
    the result is checked, and for DDIM so is the previous timestep of every step.
    """
    from diffusers import DDIMScheduler
    timesteps = [int(t) for t in timesteps]
    T = scheduler.config.num_train_timesteps
    if isinstance(scheduler, DDIMScheduler):
        scheduler = DDIMScheduler.from_config(
            scheduler.config, **ddim_scheduler_overrides(timesteps, T))
        scheduler.set_timesteps(len(timesteps), device=device)
        stride = T // scheduler.num_inference_steps
        prevs = [t - stride for t in scheduler.timesteps.tolist()]
        if prevs[:-1] != timesteps[1:] or prevs[-1] >= 0:
            raise StateError(f'DDIMScheduler steps {scheduler.timesteps.tolist()} -> {prevs}, not '
                             f'{timesteps} -> alpha 1')
    else:
        if 'timesteps' not in inspect.signature(scheduler.set_timesteps).parameters:
            raise WrongTypeError(f'{type(scheduler).__name__}.set_timesteps takes no custom '
                                 'timesteps')
        scheduler = copy.deepcopy(scheduler)
        scheduler.set_timesteps(timesteps=timesteps, device=device)
    got = scheduler.timesteps.tolist()
    if got != timesteps:
        raise StateError(f'{type(scheduler).__name__} set timesteps {got}, not {timesteps}')
    return scheduler


def scheduler_sample(unet: Any, scheduler: Any, timesteps: Sequence[int], noise: Tensor,
                     **step_kwargs) -> Tensor:
    """Sample with a stock diffusers scheduler over ``timesteps`` (set by
    :func:`configure_scheduler`): ``scale_model_input``, ``unet``, ``step``, as pipelines do."""
    scheduler = configure_scheduler(scheduler, timesteps, device=noise.device)
    x = noise * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        model_output = unet_output(unet, scheduler.scale_model_input(x, t), t)
        x = scheduler.step(model_output, t, x, **step_kwargs).prev_sample
    return x


def pipeline_noise(unet: Any, seed: int, batch_size: int = 1) -> Tensor:
    """The initial noise ``DDIMPipeline`` draws for ``generator=torch.Generator().manual_seed(
    seed)``: ``torch.randn((B, in_channels, size, size), generator, dtype=unet.dtype)`` on CPU."""
    size = unet.config.sample_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randn((batch_size, unet.config.in_channels, *size), generator=generator,
                       dtype=unet.dtype)


@torch.no_grad()
def sample_like_pipeline(unet: Any, scheduler: Union[Dict[str, Any], Any], num_steps: int,
                         seed: int, batch_size: int = 1, spacing: str = 'trailing',
                         prediction_type: Optional[str] = None,
                         clip_sample: bool = False) -> Tensor:
    """mmkd's sampler drawing exactly what an exported ``DDIMPipeline`` draws.

    Equals ``pipe(batch_size, generator=torch.Generator().manual_seed(seed),
    num_inference_steps=num_steps, output_type='pt').images`` for a pipeline written by
    :func:`mmkd.diffusion.pipeline_export.export_pipeline` with the same ``spacing``: same noise
    (:func:`pipeline_noise`), ``ddim_sample`` over ``ddim_timesteps(T, num_steps, spacing)``, then
    ``(x / 2 + 0.5).clamp(0, 1)``. Returns ``[B, C, H, W]`` in [0, 1].
    ``scheduler`` (instance or config dict) gives ``alphas_cumprod``, ``num_train_timesteps`` and,
    unless ``prediction_type`` is given, the prediction type.
    """
    scheduler = build_noise_scheduler(scheduler)
    prediction_type = prediction_type or scheduler.config.prediction_type
    timesteps = ddim_timesteps(scheduler.config.num_train_timesteps, num_steps, spacing)
    noise = pipeline_noise(unet, seed, batch_size)
    x = ddim_sample(unet, scheduler.alphas_cumprod, timesteps, noise, prediction_type,
                    clip_sample=clip_sample)
    return (x / 2 + 0.5).clamp(0, 1)
