"""An experiment's figures: the metric per run, training curves, validation gap closed per epoch;
from the scalars MMEngine logged."""
import itertools
import json
import os.path as osp
import statistics
import textwrap
from typing import Any, Dict, List, Union

from mmkd.fileio import save_figure

from .report import gap_closed


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
