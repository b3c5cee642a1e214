"""What distillation costs per training step, measured in one process on one batch.

Times, call by call in turn so that machine noise hits all three alike: a KD training step
of the algorithm, a training step of the student alone, and the teachers' forward passes.
``ratio = kd_step / (student_step + teacher_forward)``: 1.0 means the distillation machinery
(recorders, connectors, losses) costs nothing beyond running both networks.
"""
import statistics
import time
from typing import Any, Callable, Dict, Optional

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mmkd.distill.algorithms.distill import cast_floats, run_model
from mmkd.engine.runner import load_config
from mmkd.registry import MODELS


def _interleaved_medians(kinds: Dict[str, Callable[[], Any]], iters: int) -> Dict[str, float]:
    """Call each function once per round, ``iters`` rounds; the median seconds of each. Taking
    turns call by call makes a burst of load on the shared machine hit every kind alike."""
    for fn in kinds.values():
        for _ in range(2):
            fn()
    times: Dict[str, list] = {key: [] for key in kinds}
    for _ in range(iters):
        for key, fn in kinds.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return {key: statistics.median(values) for key, values in times.items()}


def measure_kd_overhead(config: str, iters: int = 20, repeats: int = 5,
                        cfg_options: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Step times (seconds; per repeat the median of ``iters`` calls, then the median over
    repeats) and the overhead ratio of each repeat."""
    cfg = load_config(config, cfg_options=cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmkd'))
    torch.manual_seed(0)
    algorithm = MODELS.build(cfg.model)
    if not hasattr(algorithm, 'teachers'):
        raise KeyError(f'{config}: model {cfg.model.get("type")!r} has no teachers; '
                       'kd-overhead needs a distillation config')
    algorithm.train()
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader)))
    student = algorithm.student
    kd_optim = OptimWrapper(torch.optim.SGD(
        [p for p in algorithm.parameters() if p.requires_grad], lr=1e-3, momentum=0.9))
    student_optim = OptimWrapper(torch.optim.SGD(student.parameters(), lr=1e-3, momentum=0.9))
    data = algorithm.data_preprocessor(batch, True)

    def teacher_forward() -> None:
        with torch.no_grad():
            for name, teacher in algorithm.teachers.items():
                dtype = algorithm.teacher_specs[name].dtype
                run_model(teacher, cast_floats(data['inputs'], dtype), data['data_samples'],
                          'tensor')

    kinds = dict(kd_step_s=lambda: algorithm.train_step(batch, kd_optim),
                 student_step_s=lambda: student.train_step(batch, student_optim),
                 teacher_fwd_s=teacher_forward)
    samples = {k: [] for k in kinds}
    ratios = []
    for _ in range(repeats):
        for key, seconds in _interleaved_medians(kinds, iters).items():
            samples[key].append(seconds)
        ratios.append(samples['kd_step_s'][-1] /
                      (samples['student_step_s'][-1] + samples['teacher_fwd_s'][-1]))
    result = {k: statistics.median(v) for k, v in samples.items()}
    result.update(ratio=statistics.median(ratios), ratios=ratios, samples=samples,
                  batch_size=cfg.train_dataloader.batch_size, iters=iters, repeats=repeats,
                  config=config)
    return result
