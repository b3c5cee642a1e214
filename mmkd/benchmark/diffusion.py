"""Few-step samplers of the digits diffusion models against their teacher, in one process.

For every step count ``n`` of ``steps``, from the SAME initial noise (``num_samples`` images,
``torch.randn`` with ``seed``):

- each student: PD students (``ProgressiveDistillation`` configs, sampled only at their
  ``num_student_steps``, or any ``DiffusionModel``) run deterministic DDIM
  (:func:`~mmkd.diffusion.sampling.ddim_sample`) over ``ddim_timesteps(T, n, spacing)`` (the
  config's spacing, else ``'trailing'``); CD students
  (``ConsistencyDistillation`` configs) run multistep consistency sampling
  (:func:`~mmkd.diffusion.methods.consistency.consistency_sample`) over
  ``lcm_timesteps(n, T, num_solver_steps)``, re-noising from a generator seeded ``seed + 1``;
- the teacher with DDIM over ``ddim_timesteps(T, n, 'trailing')``, clipping x0 as its
  scheduler config says (``clip_sample``, diffusers' default);
- the teacher with DPM-Solver++ (diffusers ``DPMSolverMultistepScheduler``, 2nd order,
  ``lower_order_final``, ``final_sigmas_type='zero'``, the same clip as thresholding) over the
  same explicit timesteps
  (:func:`~mmkd.diffusion.sampling.configure_scheduler` / ``scheduler_sample``);

plus the teacher's ``reference_steps``-step (100) DDIM, the reference. Per sampler: FD against the
training digits (:mod:`mmkd.diffusion.metrics`; the noise floor, FD of as many real test digits,
is reported beside it), same-noise MSE against the reference samples, and wall-clock seconds per
sample: per repeat every sampler draws ``time_batch`` samples in turn (interleaved), the median
over ``repeats`` divided by ``time_batch``; ``time_ratio`` = that / the reference's. All samples
are clamped to [-1, 1] before metrics and grids.
"""
import os
import os.path as osp
import shutil
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
from torch import Tensor

from mmkd.errors import InvalidValueError

__all__ = ['parse_student', 'measure_diffusion', 'table_rows', 'summary', 'TABLE_HEADER',
           'SECTION']

SAMPLERS = ('ddim', 'consistency')
SECTION = 'Diffusion samplers on the digits'
TABLE_HEADER = ['date', 'steps', 'sampler', 'FD', 'FD noise floor', 'MSE vs teacher 100-step',
                'ms / sample', 'time vs teacher 100-step', 'command']


def parse_student(spec: str) -> Dict[str, Any]:
    """``NAME=CONFIG:CKPT[:SAMPLER]`` -> ``dict(name, config, checkpoint, sampler)``; ``sampler``
    (``'ddim'`` | ``'consistency'``) is None when not given (then taken from the config)."""
    name, sep, rest = spec.partition('=')
    parts = rest.split(':')
    sampler = None
    if len(parts) == 3:
        sampler = parts.pop()
    if not sep or not name or len(parts) != 2 or not all(parts):
        raise InvalidValueError(f'--students: expected NAME=CONFIG:CKPT[:SAMPLER], got {spec!r}')
    if sampler is not None and sampler not in SAMPLERS:
        raise InvalidValueError(f'--students {spec!r}: sampler must be one of {SAMPLERS}')
    return dict(name=name, config=parts[0], checkpoint=parts[1], sampler=sampler)


def _load(config: str, checkpoint: str) -> Dict[str, Any]:
    """The ``DiffusionModel`` of a config/checkpoint and what its config says about sampling."""
    from mmengine.config import Config

    import mmkd.diffusion  # noqa: F401  (registers models)
    from mmkd.engine.student import build_student
    cfg = Config.fromfile(config)
    model, is_ema = build_student(cfg, checkpoint)
    model.requires_grad_(False)
    kind = cfg.model.get('type', 'DiffusionModel')
    return dict(model=model, type=kind, ema=is_ema,
                spacing=cfg.model.get('spacing', 'trailing'),
                num_solver_steps=cfg.model.get('num_solver_steps', 50),
                trained_steps=cfg.model.get('num_student_steps',
                                            cfg.model.get('predict_steps')))


def _clip_range(scheduler: Any) -> Optional[float]:
    """The x0 clip range of a scheduler config (diffusers' ``clip_sample``, on by default in
    ``DDPMScheduler``/``DDIMScheduler``), or None."""
    if not scheduler.config.get('clip_sample', False):
        return None
    return float(scheduler.config.get('clip_sample_range', 1.0))


def _dpm_solver(scheduler: Any) -> Any:
    """DPM-Solver++ (2M) from the teacher's config; its x0 clip becomes thresholding at the same
    range (``sample_max_value`` with a quantile that always reaches it: a plain clamp)."""
    from diffusers import DPMSolverMultistepScheduler
    clip = _clip_range(scheduler)
    extra = dict(thresholding=True, sample_max_value=clip, dynamic_thresholding_ratio=1.0) \
        if clip is not None else dict(thresholding=False)
    return DPMSolverMultistepScheduler.from_config(
        scheduler.config, algorithm_type='dpmsolver++', solver_order=2, lower_order_final=True,
        final_sigmas_type='zero', **extra)


def _samplers(teacher: Dict[str, Any], students: List[Dict[str, Any]], steps: Sequence[int],
              reference_steps: int, seed: int) -> List[Dict[str, Any]]:
    """One entry per sampler: key, label, steps, timesteps and ``run(noise, generator)``."""
    from mmkd.diffusion.methods.consistency import consistency_sample, lcm_timesteps
    from mmkd.diffusion.sampling import ddim_sample, ddim_timesteps, scheduler_sample
    tm = teacher['model']
    T = tm.num_train_timesteps

    def ddim(model: Any, timesteps: List[int], clip_sample: bool = False) -> Callable:
        return lambda noise, gen: ddim_sample(model.unet, model.alphas_cumprod, timesteps, noise,
                                              model.prediction_type, clip_sample=clip_sample)

    # the teacher samples as its own scheduler config says (diffusers' DDIM clips x0 by
    # default): an epsilon model's unclipped x0 at t=999 is its error times ~2e4
    teacher_clip = _clip_range(tm.scheduler) is not None
    dpm = _dpm_solver(tm.scheduler)
    out = []
    ref_ts = ddim_timesteps(T, reference_steps, 'trailing')
    out.append(dict(key=f'teacher_ddim_{reference_steps}', label='teacher DDIM', model='teacher',
                    sampler='ddim', steps=reference_steps, timesteps=ref_ts,
                    run=ddim(tm, ref_ts, teacher_clip)))
    for n in steps:
        for student in students:
            if student['type'] == 'ProgressiveDistillation' and n != student['trained_steps']:
                continue  # a PD student is a sampler for the one step count it was distilled to
            model = student['model']
            if student['sampler'] == 'consistency':
                ts = lcm_timesteps(n, model.num_train_timesteps, student['num_solver_steps'])
                run = (lambda m, t: lambda noise, gen: consistency_sample(m, t, noise, gen))(
                    model, ts)
                label = f"{student['name']} (consistency)"
            else:
                ts = ddim_timesteps(model.num_train_timesteps, n, student['spacing'])
                run, label = ddim(model, ts), f"{student['name']} (DDIM)"
            out.append(dict(key=f"{student['name']}_{n}", label=label, model=student['name'],
                            sampler=student['sampler'], steps=n, timesteps=ts, run=run))
        ts = ddim_timesteps(T, n, 'trailing')
        out.append(dict(key=f'teacher_ddim_{n}', label='teacher DDIM', model='teacher',
                        sampler='ddim', steps=n, timesteps=ts, run=ddim(tm, ts, teacher_clip)))
        out.append(dict(key=f'teacher_dpmpp_{n}', label='teacher DPM-Solver++ (2M)',
                        model='teacher', sampler='dpm-solver++', steps=n, timesteps=ts,
                        run=(lambda t: lambda noise, gen: scheduler_sample(tm.unet, dpm, t,
                                                                           noise))(ts)))
    return out


@torch.no_grad()
def _draw(entry: Dict[str, Any], noise: Tensor, batch_size: int, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed + 1)  # consistency re-noising
    return torch.cat([entry['run'](chunk, gen) for chunk in noise.split(batch_size)]).clamp(-1, 1)


def _time_samplers(entries: List[Dict[str, Any]], noise: Tensor, batch_size: int, seed: int,
                   repeats: int, progress: bool) -> Dict[str, List[float]]:
    """Seconds per draw of ``noise``'s samples, per sampler and repeat; the samplers take turns
    within a repeat, so machine noise hits them alike."""
    from tqdm import tqdm
    seconds: Dict[str, List[float]] = {e['key']: [] for e in entries}
    bar = tqdm(total=repeats * len(entries), desc='timing', disable=not progress)
    for _ in range(repeats):
        for entry in entries:
            start = time.perf_counter()
            _draw(entry, noise, batch_size, seed)
            seconds[entry['key']].append(time.perf_counter() - start)
            bar.update(1)
    bar.close()
    return seconds


def _save_grid(samples: Tensor, key: str, grid_dir: str, grids_to: Optional[str], nrow: int,
               scale: int) -> str:
    """``grid_dir/<key>.png`` (copied to ``grids_to/diffusion_<key>.png`` when given)."""
    from mmkd.diffusion.metrics import save_sample_grid
    grid = save_sample_grid(samples, osp.join(grid_dir, f'{key}.png'), nrow=nrow, scale=scale)
    if grids_to:
        os.makedirs(grids_to, exist_ok=True)
        shutil.copyfile(grid, osp.join(grids_to, f'diffusion_{key}.png'))
    return grid


def measure_diffusion(teacher: Sequence[str], students: Sequence[Any], classifier: str,
                      steps: Sequence[int] = (1, 2, 4, 8), num_samples: int = 500,
                      seed: int = 0, reference_steps: int = 100, batch_size: int = 250,
                      repeats: int = 3, time_batch: int = 32, grid_dir: Optional[str] = None,
                      grids_to: Optional[str] = None, grid_count: int = 64, grid_nrow: int = 8,
                      grid_scale: int = 3, progress: bool = True,
                      classifier_model: Optional[dict] = None) -> Dict[str, Any]:
    """Run the benchmark (module docstring) and return the result dict.

    ``teacher`` = ``(config, checkpoint)``; ``students``: ``NAME=CONFIG:CKPT[:SAMPLER]`` strings
    or :func:`parse_student` dicts. ``grid_dir``: write ``<key>.png`` grids of the first
    ``grid_count`` samples of every sampler there; ``grids_to``: also copy them there as
    ``diffusion_<key>.png``.
    """
    from tqdm import tqdm

    from mmkd.diffusion.metrics import (DigitsFeatureExtractor, fd_score, noise_floor,
                                        reference_stats, sample_mse)
    steps = [int(n) for n in steps]
    if not steps or min(steps) < 1:
        raise InvalidValueError(f'steps: expected step counts >= 1, got {steps}')
    specs = [parse_student(s) if isinstance(s, str) else dict(s) for s in students]
    names = [s['name'] for s in specs]
    if len(set(names)) != len(names) or 'teacher' in names:
        raise InvalidValueError(f'students: names must be unique and not "teacher", got {names}')
    t_info = _load(*teacher)
    for spec in specs:
        spec.update(_load(spec['config'], spec['checkpoint']))
        if spec['sampler'] is None:
            spec['sampler'] = 'consistency' if spec['type'] == 'ConsistencyDistillation' \
                else 'ddim'
    tm = t_info['model']
    size = tm.unet.config.sample_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    noise = torch.randn((num_samples, tm.unet.config.in_channels, *size),
                        generator=torch.Generator().manual_seed(seed))
    entries = _samplers(t_info, specs, steps, reference_steps, seed)

    extractor = DigitsFeatureExtractor(classifier, classifier_model)
    reference = reference_stats(extractor, 'train')
    floor = noise_floor(extractor, num_samples, reference)

    samples: Dict[str, Tensor] = {}
    for entry in tqdm(entries, desc='sampling', disable=not progress):
        samples[entry['key']] = _draw(entry, noise, batch_size, seed)
    ref_key = entries[0]['key']

    timing_noise = noise[:time_batch]
    seconds = _time_samplers(entries, timing_noise, batch_size, seed, repeats, progress)
    per_sample = {k: statistics.median(v) / len(timing_noise) for k, v in seconds.items()}

    results: Dict[str, Any] = {}
    for entry in entries:
        key = entry['key']
        grid = None
        if grid_dir:
            grid = _save_grid(samples[key][:grid_count], key, grid_dir, grids_to, grid_nrow,
                              grid_scale)
        results[key] = dict(
            label=entry['label'], model=entry['model'], sampler=entry['sampler'],
            steps=entry['steps'], timesteps=entry['timesteps'],
            fd=fd_score(extractor, samples[key], reference),
            mse_vs_reference=sample_mse(samples[key], samples[ref_key]),
            seconds_per_sample=per_sample[key], time_ratio=per_sample[key] / per_sample[ref_key],
            seconds=seconds[key],
            time_ratios=[a / b for a, b in zip(seconds[key], seconds[ref_key])], grid=grid)
    return dict(
        steps=steps, num_samples=num_samples, seed=seed, reference=ref_key,
        reference_steps=reference_steps, noise_floor=floor,
        noise_floor_samples=min(num_samples, 540), repeats=repeats, time_batch=len(timing_noise),
        teacher=dict(config=teacher[0], checkpoint=teacher[1], ema=t_info['ema'],
                     prediction_type=tm.prediction_type),
        students=[dict(name=s['name'], config=s['config'], checkpoint=s['checkpoint'],
                       sampler=s['sampler'], type=s['type'], spacing=s['spacing'],
                       trained_steps=s['trained_steps'],
                       prediction_type=s['model'].prediction_type) for s in specs],
        classifier=dict(checkpoint=classifier, model=extractor.model_cfg),
        teacher_clip_sample=_clip_range(tm.scheduler),
        dpm_solver=dict(algorithm_type='dpmsolver++', solver_order=2, lower_order_final=True,
                        final_sigmas_type='zero',
                        thresholding=_clip_range(tm.scheduler) is not None),
        samplers=results)


def table_rows(result: Dict[str, Any]) -> List[List[str]]:
    """The docs rows (without date and command): the reference first, then by step count."""
    rows = []
    floor = f"{result['noise_floor']:.3f}"
    for r in result['samplers'].values():
        rows.append([str(r['steps']), r['label'], f"{r['fd']:.3f}", floor,
                     f"{r['mse_vs_reference']:.4f}", f"{1000 * r['seconds_per_sample']:.2f}",
                     f"{r['time_ratio']:.3f}"])
    return rows


def summary(result: Dict[str, Any]) -> str:
    lines = [f"noise floor (FD of {result['noise_floor_samples']} real test digits): "
             f"{result['noise_floor']:.3f}"]
    for key, r in result['samplers'].items():
        lines.append(f"{key:>24}: FD {r['fd']:8.3f} | MSE vs {result['reference']} "
                     f"{r['mse_vs_reference']:.4f} | "
                     f"{1000 * r['seconds_per_sample']:.2f} ms/sample "
                     f"({r['time_ratio']:.3f}x)")
    return '\n'.join(lines)
