"""Experiments: a list of runs (teacher, scratch student, distilled students) trained in order,
their test metrics collected into a report with "gap closed" per method.

Experiment config::

    work_dir = 'work_dirs/experiments/digits_kd'
    metric = 'accuracy/top1'                  # the test metric the report compares
    extra_metrics = ['accuracy/mean_class']   # more columns (optional)
    runs = [
        dict(name='teacher', config='configs/digits/cnn_teacher_digits.py', reuse=True),
        dict(name='scratch', config='configs/digits/cnn_student_digits.py'),
        dict(name='KD', config='configs/digits/kd_cnn_digits.py', teacher_from='teacher'),
    ]

A run with ``reuse=True`` whose final checkpoint exists is evaluated, not retrained (one that
stopped early is resumed).
``teacher_from`` points the run's teacher (``model.teachers.<teacher_key>.checkpoint``,
``teacher_key`` defaulting to ``'teacher'``) at another run's final checkpoint;
``teacher_checkpoint_keys`` lists the config keys to point there instead (e.g. a ULIP student's
frozen teacher and text tower, ``['model.teachers.clip.checkpoint',
'model.student.text_encoder.pretrained']``). ``seeds``
(per run, or for all runs at the top level) repeats a run with each seed and reports the mean
and standard deviation.
The teacher run is named ``teacher`` and the baseline ``scratch`` unless the config says
``teacher_run``/``scratch_run``. A run's ``work_dir`` puts it outside the experiment's folder (a
teacher that several experiments share).

A run whose config sets ``model.teacher_cache`` gets its cache written first (by
:func:`mmkd.distill.cache.write_teacher_cache`), or reused when one for exactly that config and
teacher checkpoint is there. A run that keeps its best validation epoch (MMEngine's
``CheckpointHook(save_best=...)``) is tested twice: at that epoch and at the last one; the report
then shows both, so the test set never chooses an epoch. ``gap_curves=True`` also draws the
validation gap closed per epoch (``gap_closed.png``).
"""
import glob
import itertools
import json
import os
import os.path as osp
import statistics
import textwrap
import time
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from mmengine.config import Config

from mmkd.distill.cache import write_teacher_cache
from mmkd.fileio import atomic_write_bytes, load_checkpoint_meta, save_figure
from .runner import build_runner, load_config
from .student import deployable_module


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
            raise KeyError(f"runs[{name}].teacher_from: run {source!r} has no final checkpoint "
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


def gap_closed(value: float, scratch: float, teacher: float) -> Optional[float]:
    """``(value - scratch) / (teacher - scratch)``; None when the teacher is not better."""
    if teacher <= scratch:
        return None
    return (value - scratch) / (teacher - scratch)


def _shown(r: Dict[str, Any], metric: str, kind: str = 'metrics') -> str:
    shown = f"{r[kind][metric]:.2f}"
    if f'{kind}_std' in r:
        shown += f" ± {r[f'{kind}_std'][metric]:.2f}"
    return shown


def report_table(results: List[Dict[str, Any]], metric: str, teacher_run: Optional[str],
                 scratch_run: Optional[str], extra_metrics: Sequence[str] = (),
                 teacher_ratio: bool = False) -> str:
    """A markdown table of the runs with the metric, ``extra_metrics``, params, latency and gap
    closed (of ``metric``); with ``teacher_ratio`` also a column "of teacher" = metric /
    teacher's metric (e.g. a point student's zero-shot accuracy against its CLIP teacher's).

    When every run kept its best validation epoch, the metric and the gap closed are shown at
    that epoch and at the last one."""
    by_name = {r['name']: r for r in results}
    kinds = ['metrics_best', 'metrics'] if all('metrics_best' in r for r in results) else [
        'metrics']
    labels = dict(metrics_best=' (best val epoch)', metrics=' (last epoch)' if len(kinds) > 1
                  else '')

    def reference(run: Optional[str], kind: str) -> Optional[float]:
        return by_name[run][kind][metric] if run in by_name else None

    metric_head = ''.join(f' {metric}{labels[k]} |' for k in kinds)
    extra_head = ''.join(f' {m} |' for m in extra_metrics)
    gap_head = ''.join(f' gap closed{labels[k]} |' for k in kinds)
    ratio_head = ' of teacher |' if teacher_ratio else ''
    columns = len(kinds) * 2 + len(extra_metrics) + bool(teacher_ratio) + 3
    lines = [f'| run |{metric_head}{extra_head} params | CPU latency / sample (ms) |{gap_head}'
             f'{ratio_head}', '|' + '---|' * columns]
    for r in results:
        cells = []
        for kind in kinds:
            shown = _shown(r, metric, kind)
            if f'{kind}_std' in r:
                shown += f" ({len(r['seeds'])} seeds)"
            cells.append(shown)
        cells += [_shown(r, m) for m in extra_metrics]
        cells += [f"{r['params']:,}", f"{r['latency_ms']:.3f}"]
        for kind in kinds:
            teacher, scratch = reference(teacher_run, kind), reference(scratch_run, kind)
            gap = ''
            if r['name'] not in (teacher_run, scratch_run) and None not in (teacher, scratch):
                closed = gap_closed(r[kind][metric], scratch, teacher)
                gap = 'n/a' if closed is None else f'{100 * closed:.1f} %'
            cells.append(gap)
        if teacher_ratio:
            teacher = reference(teacher_run, 'metrics')
            cells.append(f"{100 * r['metrics'][metric] / teacher:.1f} %"
                         if teacher and r['name'] != teacher_run else '')
        lines.append(f"| {r['name']} | " + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot_results(results: List[Dict[str, Any]], metric: str, path: str) -> None:
    """A bar chart of the metric per run."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    # long run names ('teacher (MVCNN on views)') wrap instead of overlapping their neighbours
    names = [textwrap.fill(r['name'], 16) for r in results]
    values = [r['metrics'][metric] for r in results]
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 3.5))
    ax.bar(names, values, color='tab:blue')
    low = min(values)
    ax.set_ylim(max(0.0, low - 0.15 * (max(values) - low + 1)), max(values) + 1)
    ax.set_ylabel(metric)
    for i, v in enumerate(values):
        ax.text(i, v, f'{v:.1f}', ha='center', va='bottom')
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def read_scalars(paths: Union[str, List[str]]) -> List[Dict[str, Any]]:
    """The records MMEngine's LocalVisBackend wrote (one JSON object per line), from one file or
    from the log folders of a run in time order (a resumed run logs into a new folder; a reused
    run's evaluation adds an empty one)."""
    records = []
    for path in [paths] if isinstance(paths, str) else paths:
        if osp.isfile(path):
            with open(path) as f:
                records += [json.loads(line) for line in f if line.strip()]
    return records


def plot_curves(results: List[Dict[str, Any]], metric: str, path: str) -> None:
    """Training loss per iteration and the validation metric per epoch, one line per run."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.get_cmap('tab20' if len(results) > 10 else 'tab10').colors
    for r, color in zip(results, itertools.cycle(colors)):
        records = read_scalars(r.get('scalars', ''))
        train = [x for x in records if 'loss' in x and 'step' in x]
        val = [x for x in records if metric in x]
        if train:
            ax_loss.plot([x['step'] for x in train], [x['loss'] for x in train], label=r['name'],
                         color=color)
        if val:
            ax_metric.plot([x['step'] for x in val], [x[metric] for x in val], marker='o',
                           label=r['name'], color=color)
    ax_loss.set(xlabel='iteration', ylabel='total training loss', yscale='log')
    ax_metric.set(xlabel='epoch', ylabel=f'val {metric}')
    for ax in (ax_loss, ax_metric):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def validation_curve(result: Dict[str, Any], metric: str) -> Dict[int, float]:
    """Epoch -> the validation metric, averaged over the run's seeds."""
    per_epoch: Dict[int, List[float]] = {}
    for r in result.get('per_seed') or [result]:
        for record in read_scalars(r.get('scalars', '')):
            if metric in record:
                per_epoch.setdefault(int(record['step']), []).append(record[metric])
    return {epoch: statistics.mean(v) for epoch, v in sorted(per_epoch.items())}


def plot_gap_curves(results: List[Dict[str, Any]], metric: str, teacher_run: str,
                    scratch_run: str, path: str) -> bool:
    """The validation gap closed per epoch of every distilled run, against the final validation
    metric of the teacher and of the scratch student (mean over seeds); False (and no figure)
    when the teacher is not better than scratch."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    by_name = {r['name']: r for r in results}
    teacher = list(validation_curve(by_name[teacher_run], metric).values())
    scratch = list(validation_curve(by_name[scratch_run], metric).values())
    if not teacher or not scratch or teacher[-1] <= scratch[-1]:
        return False
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for r in results:
        if r['name'] in (teacher_run, scratch_run):
            continue
        curve = validation_curve(r, metric)
        ax.plot(list(curve), [100 * gap_closed(v, scratch[-1], teacher[-1])
                              for v in curve.values()], marker='.', label=r['name'])
    ax.axhline(0, color='grey', lw=0.8)
    ax.axhline(100, color='grey', lw=0.8, ls='--')
    ax.set(xlabel='epoch', ylabel='validation gap closed (%)',
           title=f'{metric}: teacher {teacher[-1]:.2f}, scratch {scratch[-1]:.2f} (val)')
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return True


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
            raise KeyError(f'{config}: runs[{i}] needs "name" and "config"')
        if '/' in run['name'] or os.sep in run['name']:
            raise ValueError(f'{config}: runs[{i}].name {run["name"]!r} names its work dir; '
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
