"""Training the runs of an experiment (reused, resumed, per seed) and writing its report."""
import glob
import json
import os
import os.path as osp
import statistics
import time
from typing import Any, Dict, List, Optional

import torch
from mmengine.config import Config

from mmkd.errors import ConfigError, InvalidValueError
from mmkd.distill.cache import write_teacher_cache
from mmkd.fileio import atomic_write_bytes, load_checkpoint_meta

from ..runner import build_runner, load_config
from ..student import deployable_module
from .plots import plot_curves, plot_gap_curves, plot_results
from .report import report_table


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def first_sample(inputs: Any) -> Any:
    """The first sample of a batch: a tensor, a list, or a dict of them (e.g. CLIP's image and
    captions)."""
    if isinstance(inputs, dict):
        return {k: first_sample(v) for k, v in inputs.items()}
    return inputs[:1]


@torch.no_grad()
def latency_ms(model: torch.nn.Module, inputs: Any, repeats: int = 50) -> float:
    """Median CPU time of one forward on a single sample, in milliseconds."""
    model.eval()
    sample = first_sample(inputs)
    for _ in range(5):
        model(sample)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(sample)
        times.append(time.perf_counter() - start)
    return 1000.0 * sorted(times)[len(times) // 2]


def _last_checkpoint(work_dir: str) -> Optional[str]:
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        path = f.read().strip()
    return path if osp.isfile(path) else None


def best_checkpoint(work_dir: str) -> Optional[str]:
    """The best-validation checkpoint ``best_<metric>_epoch_<n>.pth`` that MMEngine's
    ``CheckpointHook(save_best=...)`` keeps in ``work_dir``, if any."""
    found = sorted(glob.glob(osp.join(work_dir, 'best_*.pth')), key=osp.getmtime)
    return found[-1] if found else None


def _is_finished(checkpoint: str, cfg: Config) -> bool:
    """Whether ``checkpoint`` was saved at the end of ``cfg``'s training schedule."""
    meta = load_checkpoint_meta(checkpoint)
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_epochs' in train_cfg:
        return meta.get('epoch', 0) >= train_cfg['max_epochs']
    return meta.get('iter', 0) >= train_cfg.get('max_iters', float('inf'))


def run_one(run: Dict[str, Any], work_dir: str,
            teacher_checkpoints: Dict[str, str]) -> Dict[str, Any]:
    """Train (or reuse) one run and return its test metrics, params, latency and checkpoint.

    ``teacher_checkpoints`` maps the names of runs that came before to their final checkpoint.
    """
    name = run['name']
    options = dict(run.get('cfg_options') or {})
    if run.get('teacher_from'):
        source = run['teacher_from']
        if not teacher_checkpoints.get(source):
            raise ConfigError(f"runs[{name}].teacher_from: run {source!r} has no final checkpoint "
                              f'before {name!r} runs; order the runs so the teacher comes first')
        key = run.get('teacher_key', 'teacher')
        for option in (run.get('teacher_checkpoint_keys')
                       or [f'model.teachers.{key}.checkpoint']):
            options[option] = teacher_checkpoints[source]
    cfg = load_config(run['config'], work_dir, options)
    cfg.experiment_name = f"{name}_{time.strftime('%Y%m%d_%H%M%S')}"
    checkpoint = _last_checkpoint(work_dir) if run.get('reuse') else None
    if checkpoint is not None and _is_finished(checkpoint, cfg):
        cfg.load_from = checkpoint
        runner = build_runner(cfg)
        print(f'[{name}] reusing {checkpoint}', flush=True)
    else:
        if checkpoint is not None:  # an interrupted run: train on from where it stopped
            cfg.resume, cfg.load_from = True, checkpoint
        if cfg.model.get('teacher_cache'):
            print(f"[{name}] teacher cache: {write_teacher_cache(cfg, reuse=True)}", flush=True)
        runner = build_runner(cfg)
        runner.train()
        checkpoint = _last_checkpoint(work_dir)
    metrics = runner.test()
    model = deployable_module(runner.model)
    batch = next(iter(runner.test_dataloader))
    inputs = runner.model.data_preprocessor(batch, False)['inputs']
    result = dict(name=name, config=run['config'], work_dir=work_dir, checkpoint=checkpoint,
                  scalars=sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))),
                  metrics={k: float(v) for k, v in metrics.items()},
                  params=count_params(model), latency_ms=latency_ms(model, inputs))
    best = best_checkpoint(work_dir)
    if best is not None:  # the epoch the validation split chose, tested on its own
        runner.load_checkpoint(best)
        result.update(best_checkpoint=best, best_epoch=load_checkpoint_meta(best).get('epoch'),
                      metrics_best={k: float(v) for k, v in runner.test().items()})
    atomic_write_bytes(json.dumps(result, indent=2).encode(), osp.join(work_dir, 'result.json'))
    return result


def run_seeds(run: Dict[str, Any], run_dir: str, teacher_checkpoints: Dict[str, str],
              seeds: Optional[List[int]]) -> Dict[str, Any]:
    """:func:`run_one` once per seed (``randomness.seed``, work dir ``<run_dir>/seed<s>``); the
    metrics are the mean over seeds, with their standard deviation in ``metrics_std``. The first
    seed's checkpoint is the one later runs take as teacher. Without seeds: one plain run."""
    if not seeds:
        return run_one(run, run_dir, teacher_checkpoints)
    per_seed = []
    for seed in seeds:
        seeded = dict(run, cfg_options={**(run.get('cfg_options') or {}),
                                        'randomness.seed': seed})
        per_seed.append(run_one(seeded, seed_dir(run_dir, seed), teacher_checkpoints))
    result = dict(per_seed[0], work_dir=run_dir, seeds=list(seeds), per_seed=per_seed,
                  latency_ms=statistics.median(r['latency_ms'] for r in per_seed))
    for kind in ('metrics', 'metrics_best'):
        if all(kind in r for r in per_seed):
            values = {k: [r[kind][k] for r in per_seed] for k in per_seed[0][kind]}
            result[kind] = {k: statistics.mean(v) for k, v in values.items()}
            result[f'{kind}_std'] = {k: statistics.pstdev(v) for k, v in values.items()}
    return result


def seed_dir(run_dir: str, seed: Optional[int]) -> str:
    return run_dir if seed is None else osp.join(run_dir, f'seed{seed}')


def run_experiment(config: str, work_dir: Optional[str] = None,
                   only: Optional[List[str]] = None) -> Dict[str, Any]:
    """Run an experiment config; write ``results.json``, ``report.md``, ``accuracy.png`` and
    ``curves.png`` in its work dir and return the results and the report table."""
    exp = Config.fromfile(config)
    work_dir = work_dir or exp.get('work_dir') or osp.join(
        'work_dirs', 'experiments', osp.splitext(osp.basename(config))[0])
    metric = exp.get('metric', 'accuracy/top1')
    teacher_run, scratch_run = exp.get('teacher_run', 'teacher'), exp.get('scratch_run', 'scratch')
    os.makedirs(work_dir, exist_ok=True)
    done: Dict[str, Dict[str, Any]] = {}
    checkpoints: Dict[str, str] = {}
    for i, run in enumerate(exp.runs):
        if 'name' not in run or 'config' not in run:
            raise ConfigError(f'{config}: runs[{i}] needs "name" and "config"')
        if '/' in run['name'] or os.sep in run['name']:
            raise InvalidValueError(f'{config}: runs[{i}].name {run["name"]!r} names its work dir; '
                                    f"it cannot contain '/'")
    for i, run in enumerate(exp.runs):
        run_dir = run.get('work_dir') or osp.join(work_dir, run['name'])
        seeds = run.get('seeds', exp.get('seeds'))
        if only and run['name'] not in only:  # its checkpoint from an earlier invocation
            checkpoints[run['name']] = _last_checkpoint(seed_dir(run_dir, (seeds or [None])[0]))
            continue
        print(f"==> [{i + 1}/{len(exp.runs)}] {run['name']}: {run['config']}", flush=True)
        done[run['name']] = run_seeds(run, run_dir, checkpoints, seeds)
        checkpoints[run['name']] = done[run['name']]['checkpoint']
    # the report keeps the runs of earlier invocations that this one skipped (--only)
    results_path = osp.join(work_dir, 'results.json')
    earlier = {}
    if osp.isfile(results_path):
        with open(results_path) as f:
            earlier = {r['name']: r for r in json.load(f)}
    results = [done.get(run['name']) or earlier.get(run['name']) for run in exp.runs]
    results = [r for r in results if r is not None]
    table = report_table(results, metric, teacher_run, scratch_run,
                         exp.get('extra_metrics', ()), exp.get('teacher_ratio', False))
    command = f'python tools/run_experiment.py {config}'
    report = (f'# {osp.basename(config)}\n\nCommand: `{command}`\n\n{table}\n\n'
              '![metric per run](accuracy.png)\n\n![training curves](curves.png)\n')
    atomic_write_bytes(json.dumps(results, indent=2).encode(), results_path)
    atomic_write_bytes(report.encode(), osp.join(work_dir, 'report.md'))
    plot_results(results, metric, osp.join(work_dir, 'accuracy.png'))
    plot_curves(results, metric, osp.join(work_dir, 'curves.png'))
    if (exp.get('gap_curves') and {teacher_run, scratch_run} <= {r['name'] for r in results}
            and plot_gap_curves(results, metric, teacher_run, scratch_run,
                                osp.join(work_dir, 'gap_closed.png'))):
        report += '\n![validation gap closed per epoch](gap_closed.png)\n'
        atomic_write_bytes(report.encode(), osp.join(work_dir, 'report.md'))
    return dict(results=list(done.values()), table=table,
                report=osp.join(work_dir, 'report.md'))
