"""Edge export of the students of distillation configs, against their teachers, in one process.

Per config: the student and its (first) teacher are built from the config, with the weights of
their checkpoints when those files exist (the student's: ``work_dirs/<config name>/
last_checkpoint``, as MMEngine writes it; the teacher's: its spec's ``checkpoint``), else
randomly initialised; which one is recorded. Per graph of
:func:`mmkd.engine.graph_export.edge_graphs` (a classifier's logits, CLIP's image and text
encoders, the UNet), for teacher and student:

- ``params``: the parameters the graph reads (a CLIP tower's own, not the whole model's), found
  by watching which ``nn.Parameter`` s are passed to torch functions in one forward;
- ``macs``: ``torch.utils.flop_counter.FlopCounterMode`` FLOPs / 2 of one single-sample forward
  (matmuls, convolutions and attention; elementwise ops, norms and pooling are not counted);
  nn.MultiheadAttention's fused inference op is not counted by it, so it is switched off here;
- latency: single-sample forwards (eval, ``no_grad``), teacher and student called in turn, per
  repeat the median of ``iters`` calls, then the median over repeats; ``latency_ratio`` =
  student / teacher (median of the per-repeat ratios).

The student's graphs are exported to ONNX and TorchScript under ``out_dir/<config name>/`` and
reloaded: ``onnx_max_abs_diff`` / ``torchscript_max_abs_diff`` against PyTorch on a new input
(or the reason a format is not supported).
"""
import os.path as osp
import statistics
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import FlopCounterMode

from mmkd.errors import ConfigError
from mmkd.benchmark.timing import interleaved_repeats
from mmkd.fileio import load_weights
from mmkd.engine.graph_export import (FORMATS, SUFFIXES, ExportGraph, check_graph, edge_graphs,
                                      export_graph, mha_fastpath)
from mmkd.engine.student import deployable_config

__all__ = ['measure_edge_export', 'table_rows', 'summary', 'TABLE_HEADER', 'SECTION',
           'count_used_parameters', 'count_macs']

SECTION = 'Edge export'
TABLE_HEADER = ['date', 'config', 'graph', 'weights', 'params teacher', 'params student',
                'MMACs teacher', 'MMACs student', 'ms teacher', 'ms student',
                'latency student / teacher', 'ONNX max abs diff', 'TorchScript max abs diff',
                'command']


class _ParameterUse(TorchFunctionMode):
    """Records the parameters (of ``params``) that torch functions receive."""

    def __init__(self, params: Sequence[nn.Parameter]) -> None:
        super().__init__()
        self.params = {id(p): p for p in params}
        self.used: Dict[int, nn.Parameter] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        for value in tree_flatten((args, kwargs))[0]:
            if id(value) in self.params:
                self.used[id(value)] = value
        return func(*args, **kwargs)


def count_used_parameters(graph: ExportGraph) -> int:
    """Number of parameter values one forward of ``graph`` reads."""
    with _ParameterUse(list(graph.module.parameters())) as use, torch.no_grad():
        graph.module(*graph.example_inputs(1, 0))
    return sum(p.numel() for p in use.used.values())


def count_macs(graph: ExportGraph) -> int:
    """Multiply-accumulates of one single-sample forward (FlopCounterMode FLOPs / 2)."""
    counter = FlopCounterMode(display=False)
    with counter, mha_fastpath(False), torch.no_grad():
        graph.module(*graph.example_inputs(1, 0))
    return counter.get_total_flops() // 2


def _teacher_spec(model_cfg: Any, config: str) -> Dict[str, Any]:
    """The first teacher with a model config: ``teachers.<name>`` (``Distill``) or ``teacher``
    (the step-distillation methods)."""
    for spec in dict(model_cfg.get('teachers') or {}).values():
        if spec.get('model') is not None:
            return spec
    spec = model_cfg.get('teacher')
    if spec is not None and spec.get('model') is not None:
        return spec
    raise ConfigError(f"{config}: model {model_cfg.get('type')!r} has no teacher with a model "
                      'config; the edge-export benchmark needs a distillation config')


def _student_checkpoint(config: str) -> Optional[str]:
    """What ``work_dirs/<config name>/last_checkpoint`` points to, when that file exists."""
    pointer = osp.join('work_dirs', osp.splitext(osp.basename(config))[0], 'last_checkpoint')
    if not osp.isfile(pointer):
        return None
    with open(pointer) as f:
        path = f.read().strip()
    return path if osp.isfile(path) else None


def _build(model_cfg: dict, checkpoint: Optional[str], prefix: Optional[str],
           where: str) -> Tuple[nn.Module, Optional[str]]:
    from mmkd.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    if checkpoint and osp.isfile(checkpoint):
        load_weights(model, checkpoint, where, prefix or None)
    else:
        checkpoint = None
    model.requires_grad_(False)
    return model.eval(), checkpoint


def _parity(graph: ExportGraph, out_dir: str) -> Dict[str, Any]:
    """``{format: max abs diff or the reason it is not exported}`` of the student's graph."""
    result: Dict[str, Any] = {}
    for fmt in FORMATS:
        if graph.unsupported and fmt in graph.unsupported:
            result[fmt] = graph.unsupported[fmt]
            continue
        path = export_graph(graph, osp.join(out_dir, graph.name + SUFFIXES[fmt]), fmt)
        result[fmt] = check_graph(graph, path, fmt)
    return result


def measure_config(config: str, out_dir: str, repeats: int = 5,
                   iters: int = 20) -> List[Dict[str, Any]]:
    """One result per graph of the config's student (see the module docstring)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmkd'))
    student_cfg, prefix = deployable_config(cfg)
    spec = _teacher_spec(cfg.model, config)
    student, student_ckpt = _build(student_cfg, _student_checkpoint(config), prefix,
                                   'student checkpoint')
    teacher_cfg = spec['model'].to_dict() if hasattr(spec['model'], 'to_dict') else spec['model']
    teacher, teacher_ckpt = _build(teacher_cfg, spec.get('checkpoint'), spec.get('prefix'),
                                   'teacher checkpoint')
    teacher_graphs = {g.name: g for g in edge_graphs(teacher)}
    name = osp.splitext(osp.basename(config))[0]
    results = []
    for graph in edge_graphs(student):
        pair = dict(teacher=teacher_graphs[graph.name], student=graph)
        inputs = {side: g.example_inputs(1, 0) for side, g in pair.items()}

        def forward(side: str):
            return lambda: pair[side].module(*inputs[side])

        with torch.no_grad():
            samples = interleaved_repeats({side: forward(side) for side in pair}, iters,
                                          repeats)
        ratios = [s / t for s, t in zip(samples['student'], samples['teacher'])]
        parity = _parity(graph, osp.join(out_dir, name))
        results.append(dict(
            config=config, graph=graph.name,
            teacher_checkpoint=teacher_ckpt, student_checkpoint=student_ckpt,
            params={side: count_used_parameters(g) for side, g in pair.items()},
            macs={side: count_macs(g) for side, g in pair.items()},
            latency_s={side: statistics.median(v) for side, v in samples.items()},
            latency_ratio=statistics.median(ratios), latency_ratios=ratios, samples=samples,
            onnx_max_abs_diff=parity['onnx'], torchscript_max_abs_diff=parity['torchscript']))
    return results


def measure_edge_export(configs: Sequence[str], out_dir: str, repeats: int = 5,
                        iters: int = 20) -> Dict[str, Any]:
    """:func:`measure_config` of every config; the exports go to ``out_dir``."""
    graphs = [r for config in configs for r in measure_config(config, out_dir, repeats, iters)]
    return dict(graphs=graphs, repeats=repeats, iters=iters, threads=torch.get_num_threads(),
                out_dir=out_dir)


def _weights(graph: Dict[str, Any]) -> str:
    def state(ckpt: Optional[str]) -> str:
        return 'trained' if ckpt else 'random init'
    return (f"teacher {state(graph['teacher_checkpoint'])}, "
            f"student {state(graph['student_checkpoint'])}")


def _diff(value: Any) -> str:
    return f'{value:.1e}' if isinstance(value, float) else 'not supported'


def table_rows(result: Dict[str, Any]) -> List[List[str]]:
    """One docs row per graph (without the date and command columns)."""
    rows = []
    for g in result['graphs']:
        rows.append([osp.basename(g['config']), g['graph'], _weights(g),
                     f"{g['params']['teacher']:,}", f"{g['params']['student']:,}",
                     f"{g['macs']['teacher'] / 1e6:.3f}", f"{g['macs']['student'] / 1e6:.3f}",
                     f"{1000 * g['latency_s']['teacher']:.3f}",
                     f"{1000 * g['latency_s']['student']:.3f}", f"{g['latency_ratio']:.3f}",
                     _diff(g['onnx_max_abs_diff']), _diff(g['torchscript_max_abs_diff'])])
    return rows


def summary(result: Dict[str, Any]) -> str:
    lines = []
    for row in table_rows(result):
        lines.append(f'{row[0]} {row[1]}: params {row[3]} -> {row[4]}, MMACs {row[5]} -> '
                     f'{row[6]}, ms {row[7]} -> {row[8]} (x{row[9]}), max abs diff ONNX '
                     f'{row[10]}, TorchScript {row[11]} [{row[2]}]')
    return '\n'.join(lines)
