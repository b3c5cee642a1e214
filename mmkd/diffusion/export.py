"""Export a (few-step) diffusion model as a stock diffusers ``DDIMPipeline`` folder, and its UNet
to ONNX.

The folder (``model_index.json``, ``unet/``, ``scheduler/``, plus ``mmkd_export.json`` with what
was exported) loads without mmkd::

    pipe = DiffusionPipeline.from_pretrained(out_dir)
    images = pipe(batch_size=B, num_inference_steps=N, generator=torch.Generator().manual_seed(s),
                  output_type='np').images

and then runs exactly mmkd's ``ddim_sample`` over ``ddim_timesteps(T, N, spacing)``, from the same
noise as :func:`mmkd.diffusion.sampling.sample_like_pipeline`. Why it matches:

- ``DDIMPipeline`` rebuilds a ``DDIMScheduler`` from ``scheduler/scheduler_config.json``, calls
  ``set_timesteps(N)`` and steps from ``t`` to ``t - T // N``. The saved config makes
  ``set_timesteps(N)`` produce our list and makes that stride land on our next timestep:
  ``timestep_spacing='trailing'``, ``steps_offset=0`` when our list is trailing with a stride
  of exactly ``T // N`` (every N that divides T; the folder then also runs those other N
  correctly), else ``timestep_spacing='leading'`` with ``steps_offset`` = our last timestep
  (``spacing='stride'``, any N; only that N). Lists no stock DDIMScheduler can step (trailing
  with N not dividing T, linspace) are refused with the reason
  (:func:`mmkd.diffusion.sampling.ddim_scheduler_overrides`).
- ``set_alpha_to_one=True``: the last step goes to alpha = 1 (a clean image), as ours does.
- ``clip_sample=False``, ``thresholding=False``: ours does not clip the x0 prediction either.
- ``prediction_type`` and the beta schedule come from the model's training scheduler, so
  ``alphas_cumprod`` is the same table.
- Noise: the pipeline draws ``torch.randn((B, C, S, S), generator, dtype=unet.dtype)`` on CPU
  before anything else, which :func:`~mmkd.diffusion.sampling.pipeline_noise` repeats.
- Output: the pipeline returns ``(x / 2 + 0.5).clamp(0, 1)``, NHWC for ``'np'``.

Weights: MMEngine's ``EMAHook`` writes the EMA weights into the checkpoint's ``state_dict``
(swapping them in before saving) and the raw training weights, prefixed ``module.``, into
``ema_state_dict``. So loading ``state_dict`` (as teacher specs and :func:`load_ema_weights` do)
gives the EMA model; :func:`load_raw_weights` gives the other one.
"""
import json
import os
import os.path as osp
import warnings
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor

from mmkd.engine.checkpoint import _safe_load

from .sampling import (configure_scheduler, ddim_scheduler_overrides, ddim_timesteps,
                       sample_like_pipeline)

__all__ = ['load_ema_weights', 'load_raw_weights', 'load_diffusion_weights',
           'diffusion_model_config', 'build_diffusion_model', 'ddim_export_scheduler',
           'export_pipeline', 'export_unet_onnx', 'check_onnx_unet', 'UNetTensorOutput',
           'unet_example_inputs']

Checkpoint = Union[str, Dict[str, Any]]


def _checkpoint(checkpoint: Checkpoint) -> Dict[str, Any]:
    if isinstance(checkpoint, dict):
        return checkpoint
    if not osp.isfile(str(checkpoint)):
        raise FileNotFoundError(f'checkpoint: {str(checkpoint)!r} does not exist')
    loaded = _safe_load(str(checkpoint), 'checkpoint')
    if not isinstance(loaded, dict):
        raise TypeError(f'checkpoint: {str(checkpoint)!r} holds a {type(loaded).__name__}, '
                        'expected a state dict')
    return loaded


def _strip(state_dict: Dict[str, Tensor], prefix: Optional[str], where: str) -> Dict[str, Tensor]:
    if not prefix:
        return dict(state_dict)
    out = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not out:
        raise KeyError(f'{where}: no keys start with {prefix!r} (keys look like '
                       f'{list(state_dict)[:3]})')
    return out


def load_ema_weights(checkpoint: Checkpoint, prefix: Optional[str] = None) -> Dict[str, Tensor]:
    """The EMA weights of an MMEngine checkpoint written with ``EMAHook`` (its ``state_dict``,
    where the hook puts them), loaded with ``weights_only=True``; ``KeyError`` when the
    checkpoint has no ``ema_state_dict`` (no EMA was kept). ``prefix`` selects and strips keys,
    e.g. ``'unet.'``."""
    ckpt = _checkpoint(checkpoint)
    if 'ema_state_dict' not in ckpt:
        raise KeyError("checkpoint: no 'ema_state_dict'; was it trained with EMAHook?")
    return _strip(ckpt['state_dict'], prefix, 'checkpoint state_dict')


def load_raw_weights(checkpoint: Checkpoint, prefix: Optional[str] = None) -> Dict[str, Tensor]:
    """The non-averaged training weights: ``ema_state_dict``'s ``module.*`` entries when the
    checkpoint has EMA, else its ``state_dict`` (or the raw state dict itself)."""
    ckpt = _checkpoint(checkpoint)
    if 'ema_state_dict' in ckpt:
        state_dict = {k[len('module.'):]: v for k, v in ckpt['ema_state_dict'].items()
                      if k.startswith('module.')}
    else:
        state_dict = ckpt.get('state_dict', ckpt)
    return _strip(state_dict, prefix, 'checkpoint')


def load_diffusion_weights(checkpoint: Checkpoint, prefix: Optional[str] = None,
                           ema: bool = True) -> Tuple[Dict[str, Tensor], bool]:
    """``(state_dict, is_ema)``: the EMA weights when ``ema`` and the checkpoint has them, else
    the raw weights."""
    ckpt = _checkpoint(checkpoint)
    if ema and 'ema_state_dict' in ckpt:
        return load_ema_weights(ckpt, prefix), True
    return load_raw_weights(ckpt, prefix), False


def diffusion_model_config(cfg: Any) -> Tuple[Dict[str, Any], str]:
    """``(DiffusionModel config, its key prefix in the checkpoint)`` of a training config: the
    model itself (prefix ``''``) or the student of a distillation config (``'student.'``)."""
    from mmkd.engine.export import student_config, student_prefix
    if 'student' in cfg.model or 'students' in cfg.model:
        return student_config(cfg).model.to_dict(), student_prefix(cfg.model)
    model = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    return model, ''


def build_diffusion_model(config: str, checkpoint: Checkpoint, ema: bool = True):
    """``(DiffusionModel in eval mode with the checkpoint's weights, is_ema)``; keys must fit
    exactly."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmkd.registry import MODELS
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    init_default_scope(cfg.get('default_scope', 'mmkd'))
    model_cfg, prefix = diffusion_model_config(cfg)
    model = MODELS.build(model_cfg)
    state_dict, is_ema = load_diffusion_weights(checkpoint, prefix, ema)
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    if missing or unexpected:
        raise KeyError(f'checkpoint does not fit {type(model).__name__} (prefix {prefix!r}): '
                       f'{len(missing)} missing keys, e.g. {missing[:3]}; {len(unexpected)} '
                       f'unexpected keys, e.g. {unexpected[:3]}')
    model.load_state_dict(state_dict, strict=True)
    return model.eval(), is_ema


def ddim_export_scheduler(noise_scheduler: Any, num_steps: int, spacing: str = 'trailing'):
    """The ``DDIMScheduler`` whose ``set_timesteps(num_steps)`` + ``step`` run
    ``ddim_timesteps(T, num_steps, spacing)`` exactly (checked), built from the model's training
    scheduler (same betas and prediction type)."""
    from diffusers import DDIMScheduler
    T = noise_scheduler.config.num_train_timesteps
    timesteps = ddim_timesteps(T, num_steps, spacing)
    scheduler = DDIMScheduler.from_config(noise_scheduler.config,
                                          **ddim_scheduler_overrides(timesteps, T))
    configure_scheduler(scheduler, timesteps)  # raises unless it reproduces them
    return scheduler


def export_pipeline(config: str, checkpoint: Checkpoint, out_dir: str, num_steps: int,
                    scheduler: str = 'ddim', spacing: str = 'trailing', ema: bool = True,
                    onnx: bool = False, verify_seed: Optional[int] = 0) -> Dict[str, Any]:
    """Write a ``DDIMPipeline`` folder for ``num_steps``-step sampling (see the module docstring)
    and return what was written. With ``verify_seed``, reload the folder with diffusers and check
    it against :func:`sample_like_pipeline` (``max_abs_diff`` in the result). With ``onnx``, also
    write ``unet.onnx`` and its onnxruntime parity (``onnx_max_abs_diff``)."""
    if scheduler != 'ddim':
        raise ValueError(f"scheduler: only 'ddim' is exported (DDIMPipeline), got {scheduler!r}")
    from diffusers import DDIMPipeline
    model, is_ema = build_diffusion_model(config, checkpoint, ema)
    ddim = ddim_export_scheduler(model.scheduler, num_steps, spacing)
    os.makedirs(out_dir, exist_ok=True)
    DDIMPipeline(unet=model.unet, scheduler=ddim).save_pretrained(out_dir, safe_serialization=True)
    T = model.num_train_timesteps
    info = dict(num_steps=num_steps, spacing=spacing,
                timesteps=ddim_timesteps(T, num_steps, spacing),
                num_train_timesteps=T, prediction_type=model.prediction_type,
                timestep_spacing=ddim.config.timestep_spacing,
                steps_offset=ddim.config.steps_offset, ema_weights=is_ema,
                checkpoint=osp.abspath(checkpoint) if isinstance(checkpoint, str) else None)
    if verify_seed is not None:
        pipe = DDIMPipeline.from_pretrained(out_dir)
        pipe.set_progress_bar_config(disable=True)
        theirs = pipe(batch_size=2, num_inference_steps=num_steps, output_type='pt',
                      generator=torch.Generator().manual_seed(verify_seed)).images
        ours = sample_like_pipeline(model.unet, model.scheduler, num_steps, verify_seed, 2,
                                    spacing)
        info['max_abs_diff'] = float((theirs - ours).abs().max())
    if onnx:
        info['onnx'] = export_unet_onnx(model.unet, osp.join(out_dir, 'unet.onnx'))
        info['onnx_max_abs_diff'] = check_onnx_unet(model.unet, info['onnx'])
    with open(osp.join(out_dir, 'mmkd_export.json'), 'w') as f:
        json.dump(info, f, indent=2)
    return dict(info, out_dir=out_dir)


class UNetTensorOutput(torch.nn.Module):
    """``(sample [N, C, H, W] float32, timestep [N] int64) -> output [N, C, H, W]``."""

    def __init__(self, unet: torch.nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample: Tensor, timestep: Tensor) -> Tensor:
        return self.unet(sample, timestep).sample


def unet_example_inputs(unet: Any, batch_size: int, seed: int) -> Tuple[Tensor, Tensor]:
    """A seeded ``(sample, timestep)`` batch of the UNet's input shape, for export checks."""
    size = unet.config.sample_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn((batch_size, unet.config.in_channels, *size), generator=g)
    timestep = torch.randint(0, 1000, (batch_size,), generator=g)
    return sample, timestep


def export_unet_onnx(unet: torch.nn.Module, path: str, opset: int = 17) -> str:
    """Export ``unet`` to ONNX with inputs ``sample`` (float32 ``[N, C, H, W]``) and ``timestep``
    (int64 ``[N]``, one per sample), output ``out``; the batch dimension is dynamic. Uses the
    TorchScript exporter (``dynamo=False``: no onnxscript needed)."""
    module = UNetTensorOutput(unet).eval()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')  # TracerWarnings from diffusers' shape checks
        torch.onnx.export(module, unet_example_inputs(unet, 2, 0), path,
                          input_names=['sample', 'timestep'], output_names=['out'],
                          dynamic_axes={'sample': {0: 'batch'}, 'timestep': {0: 'batch'},
                                        'out': {0: 'batch'}},
                          opset_version=opset, dynamo=False)
    return path


def check_onnx_unet(unet: torch.nn.Module, path: str, batch_size: int = 3,
                    seed: int = 1) -> float:
    """Max abs difference between onnxruntime (CPU) and PyTorch on random inputs of a batch size
    other than the export's (so the dynamic batch is exercised)."""
    import onnxruntime
    sample, timestep = unet_example_inputs(unet, batch_size, seed)
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    theirs = session.run(None, {'sample': sample.numpy(), 'timestep': timestep.numpy()})[0]
    with torch.no_grad():
        ours = UNetTensorOutput(unet).eval()(sample, timestep)
    return float((torch.from_numpy(theirs) - ours).abs().max())
