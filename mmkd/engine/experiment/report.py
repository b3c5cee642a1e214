"""The markdown table of an experiment: each run's metric (best-validation and last epoch), params,
latency and the share of the teacher-scratch gap it closed."""
from typing import Any, Dict, List, Optional, Sequence


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
