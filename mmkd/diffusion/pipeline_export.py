"""Export a (few-step) diffusion student as a stock diffusers pipeline folder: a ``DDIMPipeline``
(:func:`export_pipeline`) or, for a consistency-distilled student, a ``DDPMPipeline`` with an
``LCMScheduler`` (:func:`export_consistency_pipeline`; see
:mod:`mmkd.diffusion.methods.consistency`). The UNet can go to ONNX beside it.

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
``ema_state_dict``; :func:`mmkd.engine.student.build_student` loads either.
"""
import json
import os
import os.path as osp
from typing import Any, Dict, Optional, Sequence

import torch

from mmkd.errors import InvalidValueError
from mmkd.engine.student import build_student
from mmkd.fileio import Checkpoint

from .edge_graphs import check_onnx_unet, export_unet_onnx
from .methods.consistency import consistency_sample_like_pipeline, lcm_timesteps
from .sampling import (configure_scheduler, ddim_scheduler_overrides, ddim_timesteps,
                       sample_like_pipeline)

__all__ = ['ddim_export_scheduler', 'export_pipeline', 'export_consistency_pipeline']


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
    write ``unet.onnx`` and its onnxruntime parity (``onnx_max_abs_diff``). ``ema``: the EMA
    weights when the checkpoint has them, else the training weights."""
    if scheduler != 'ddim':
        raise InvalidValueError("scheduler: only 'ddim' is exported (DDIMPipeline), got "
                                f"{scheduler!r}")
    from diffusers import DDIMPipeline
    model, is_ema = build_student(config, checkpoint, ema=None if ema else False)
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


def export_consistency_pipeline(config: Any, checkpoint: Checkpoint, out_dir: str,
                                verify_steps: Sequence[int] = (1, 2, 4),
                                verify_seed: Optional[int] = 0) -> Dict[str, Any]:
    """Write the CD student of ``checkpoint`` as a ``DDPMPipeline`` + ``LCMScheduler`` folder
    (module docstring) and, with ``verify_seed``, reload it with diffusers and record
    ``max_abs_diff`` against :func:`consistency_sample_like_pipeline` for ``verify_steps``."""
    from diffusers import DDPMPipeline, DiffusionPipeline, LCMScheduler
    from mmengine.config import Config
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    defaults = dict(num_solver_steps=50, sigma_data=0.5, timestep_scaling=10.0)
    opts = {k: cfg.model.get(k, v) for k, v in defaults.items()}
    if opts['sigma_data'] != 0.5:
        raise InvalidValueError("model.sigma_data: LCMScheduler hard-codes 0.5, got "
                                f"{opts['sigma_data']}")
    model, _ = build_student(cfg, checkpoint, ema=False)
    scheduler = LCMScheduler.from_config(
        model.scheduler.config, original_inference_steps=opts['num_solver_steps'],
        timestep_scaling=opts['timestep_scaling'], clip_sample=False, thresholding=False,
        prediction_type=model.prediction_type)
    os.makedirs(out_dir, exist_ok=True)
    DDPMPipeline(unet=model.unet, scheduler=scheduler).save_pretrained(
        out_dir, safe_serialization=True)
    info = dict(pipeline='DDPMPipeline', scheduler='LCMScheduler',
                original_inference_steps=opts['num_solver_steps'],
                timestep_scaling=opts['timestep_scaling'], prediction_type=model.prediction_type,
                timesteps={n: lcm_timesteps(n, model.num_train_timesteps,
                                            opts['num_solver_steps']) for n in verify_steps})
    if verify_seed is not None:
        pipe = DiffusionPipeline.from_pretrained(out_dir)
        pipe.set_progress_bar_config(disable=True)
        diffs = []
        for n in verify_steps:
            theirs = pipe(batch_size=2, num_inference_steps=n, output_type='pt',
                          generator=torch.Generator().manual_seed(verify_seed)).images
            ours = consistency_sample_like_pipeline(model, n, verify_seed, 2,
                                                    opts['num_solver_steps'],
                                                    opts['timestep_scaling'])
            diffs.append(float((theirs - ours).abs().max()))
        info['max_abs_diff'] = max(diffs)
    with open(osp.join(out_dir, 'mmkd_export.json'), 'w') as f:
        json.dump(info, f, indent=2)
    return dict(info, out_dir=out_dir)

