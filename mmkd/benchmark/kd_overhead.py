"""What distillation costs per training step, measured in one process on one batch.

Times, call by call in turn so that machine noise hits all four alike: a KD training step
of the algorithm, a training step of the student alone, the teachers' forward passes, and a KD
training step from a teacher-output cache (:mod:`mmkd.distill.cache`; the teachers are not run).
``ratio = kd_step / (student_step + teacher_forward)``: 1.0 means the distillation machinery
(recorders, connectors, losses) costs nothing beyond running both networks.
``cached_ratio = cached_kd_step / student_step``: what distilling from a cache costs over
training the student alone (reading the cache happens in the data loader, outside the step).
With ``torchdistill=True``, the same KD step in torchdistill
(:mod:`mmkd.benchmark.torchdistill_step`, same teacher, student and batch) is a fifth kind, and
``torchdistill_ratio = kd_step / torchdistill_kd_step``.

Peak memory of each kind: the most bytes the step holds at once beyond what existed before it
(parameters, batch), from the CPU allocator's events in the PyTorch profiler, one call each.
"""
import copy
import json
import os
import statistics
import sys
import tempfile
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, Optional

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmkd.errors import ConfigError, InvalidValueError
from mmkd.benchmark.timing import interleaved_repeats
from mmkd.benchmark.torchdistill_step import torchdistill_kd_step
from mmkd.distill.algorithms.distill import cast_floats, run_model
from mmkd.distill.cache import (TeacherCache, TeacherCacheDataset, cache_settings,
                                write_teacher_cache)
from mmkd.engine.runner import load_config
from mmkd.registry import MODELS


def _sgd(model: torch.nn.Module) -> OptimWrapper:
    return OptimWrapper(torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9))


def _cached_algorithm(cfg: Any, algorithm: torch.nn.Module, cache_dir: Optional[str],
                      tmp_dir: str) -> tuple:
    """The algorithm trained from a teacher-output cache (same student and connector weights as
    ``algorithm``) and one training batch for it. Without ``cache_dir``, a cache with one
    augmentation per sample is written to ``tmp_dir`` first."""
    if cache_dir is None:
        cache_dir = write_teacher_cache(cfg, tmp_dir, num_augs=1, progress=False)
    cache = TeacherCache(cache_dir)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg['teacher_cache'] = dict(path=cache_dir)
    cached = MODELS.build(model_cfg)
    cached.load_state_dict(algorithm.state_dict(), strict=False)
    cached.train()
    dataset = TeacherCacheDataset(cache_settings(cfg)['dataset'], cache_dir, cache.num_augs,
                                  cache.seed)
    loader_cfg = dict(copy.deepcopy(cfg.train_dataloader), dataset=dataset)
    return cached, next(iter(Runner.build_dataloader(loader_cfg)))


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null: the profiler's C++ side (Kineto) prints
    ``USDT ... profiler_start/stop`` lines there that no log level turns off."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def peak_step_memory(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated on the CPU during one call of ``fn``, above the level at its start."""
    from torch.profiler import ProfilerActivity, profile
    with native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU],
                                           profile_memory=True) as prof:
        fn()
    with tempfile.TemporaryDirectory() as tmp_dir:
        trace = os.path.join(tmp_dir, 'trace.json')
        prof.export_chrome_trace(trace)
        with open(trace) as f:
            events = [e['args'] for e in json.load(f)['traceEvents']
                      if e.get('name') == '[memory]']
    if not events:
        return 0
    start = events[0]['Total Allocated'] - events[0]['Bytes']
    return max(0, max(e['Total Allocated'] for e in events) - start)


def _kd_loss_settings(cfg: Any, algorithm: torch.nn.Module) -> Dict[str, Any]:
    """The logits module, temperature and weight of the config's one ``KDLoss``, for
    torchdistill, which hooks the output of one module path in both networks."""
    losses = cfg.model.get('distiller', {}).get('losses', {})
    kd = [(name, loss) for name, loss in losses.items() if loss.get('type') == 'KDLoss']
    if len(kd) != 1 or len(algorithm.teachers) != 1:
        raise InvalidValueError('--torchdistill: model.distiller.losses needs exactly one KDLoss '
                                'and model.teachers exactly one teacher, got losses '
                                f'{sorted(losses)} and teachers {sorted(algorithm.teachers)}')
    name, loss = kd[0]
    (teacher, spec), = algorithm.teacher_specs.items()
    if spec.inputs_field is not None or spec.inputs_key is not None or \
            spec.preprocess_cfg is not None:
        raise InvalidValueError('--torchdistill: '
                                f'model.teachers.{teacher}: torchdistill feeds the teacher the '
                                "student's batch; this teacher reads another input (inputs="
                                f'{spec.inputs_field or spec.inputs_key!r}, preprocess='
                                f'{spec.preprocess_cfg!r})')
    paths = []
    for arg in ('student_logits', 'teacher_logits'):
        ref = loss['inputs'][arg]
        owner, _, recorder_name = ref.partition('.') if isinstance(ref, str) else ('', '', '')
        group = algorithm.distiller.recorder_groups.get(owner)
        recorder = group.recorders.get(recorder_name) if group is not None else None
        if recorder is None or recorder.kind != 'output' or recorder.index is not None:
            raise InvalidValueError(f'--torchdistill: model.distiller.losses.{name}.inputs.{arg}: '
                                    f'expected a recorder of a whole module output, got {ref!r}')
        paths.append(recorder.source)
    if paths[0] != paths[1]:
        raise InvalidValueError(f'--torchdistill: model.distiller.losses.{name}: student and '
                                f'teacher logits must come from the same module path, got {paths}')
    return dict(logits_module=paths[0], temperature=loss.get('temperature', 1.0),
                loss_weight=loss.get('loss_weight', 1.0))


def measure_kd_overhead(config: str, iters: int = 20, repeats: int = 5,
                        cfg_options: Optional[Dict[str, Any]] = None,
                        cache_dir: Optional[str] = None,
                        torchdistill: bool = False) -> Dict[str, Any]:
    """Step times (seconds; per repeat the median of ``iters`` calls, then the median over
    repeats) and the overhead ratios of each repeat. ``cache_dir``: a teacher-output cache made
    for ``config`` (default: the config's own when it sets ``model.teacher_cache``, else one is
    written to a temporary directory)."""
    cfg = load_config(config, cfg_options=cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmkd'))
    if cache_dir is None and cfg.model.get('teacher_cache'):
        cache_dir = cfg.model.teacher_cache['path']
    live_cfg = copy.deepcopy(cfg.model)
    live_cfg.pop('teacher_cache', None)
    torch.manual_seed(0)
    algorithm = MODELS.build(live_cfg)
    if not getattr(algorithm, 'teachers', None):
        raise ConfigError(f'{config}: model {cfg.model.get("type")!r} has no teachers; kd-overhead '
                          'needs a distillation config')
    algorithm.train()
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
    student = algorithm.student
    kd_optim, student_optim = _sgd(algorithm), _sgd(student)
    data = algorithm.data_preprocessor(batch, True)
    # the cached batch and the cache's shared recordings are in memory: the directory can go
    with tempfile.TemporaryDirectory() as tmp_dir:
        cached, cached_batch = _cached_algorithm(cfg, algorithm, cache_dir, tmp_dir)
    cached_optim = _sgd(cached)

    def teacher_forward() -> None:
        with torch.no_grad():
            for name, teacher in algorithm.teachers.items():
                spec = algorithm.teacher_specs[name]
                inputs = spec.select_inputs(data['inputs'], data['data_samples'])
                run_model(teacher, cast_floats(inputs, spec.dtype), data['data_samples'],
                          'tensor')

    kinds = dict(kd_step_s=lambda: algorithm.train_step(batch, kd_optim),
                 student_step_s=lambda: student.train_step(batch, student_optim),
                 teacher_fwd_s=teacher_forward,
                 cached_kd_step_s=lambda: cached.train_step(cached_batch, cached_optim))
    if torchdistill:
        settings = _kd_loss_settings(cfg, algorithm)
        teacher, = algorithm.teachers.values()
        td_step = torchdistill_kd_step(copy.deepcopy(teacher), copy.deepcopy(student),
                                       settings['logits_module'], settings['temperature'],
                                       beta=settings['loss_weight'])

        def torchdistill_kd_step_from_loader_batch() -> None:
            # from the loader's batch, like the other kinds (they preprocess it in train_step)
            td_data = algorithm.data_preprocessor(batch, True)
            td_step(td_data['inputs'], td_data['data_samples']['labels'])

        kinds['torchdistill_kd_step_s'] = torchdistill_kd_step_from_loader_batch
    samples = interleaved_repeats(kinds, iters, repeats)
    kd, student_s = samples['kd_step_s'], samples['student_step_s']
    ratios = [k / (s + t) for k, s, t in zip(kd, student_s, samples['teacher_fwd_s'])]
    cached_ratios = [c / s for c, s in zip(samples['cached_kd_step_s'], student_s)]
    result = {k: statistics.median(v) for k, v in samples.items()}
    result['peak_bytes'] = {k[:-len('_s')]: peak_step_memory(fn) for k, fn in kinds.items()}
    if torchdistill:
        td_ratios = [k / t for k, t in zip(kd, samples['torchdistill_kd_step_s'])]
        result.update(torchdistill_ratio=statistics.median(td_ratios),
                      torchdistill_ratios=td_ratios)
    result.update(ratio=statistics.median(ratios), ratios=ratios,
                  cached_ratio=statistics.median(cached_ratios), cached_ratios=cached_ratios,
                  samples=samples,
                  batch_size=cfg.train_dataloader.batch_size, iters=iters, repeats=repeats,
                  config=config)
    return result
