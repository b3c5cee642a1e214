"""Edge export of a student: ONNX or TorchScript graphs of plain tensors, checked against PyTorch.

Each exportable model is seen through one or more *graphs* (:class:`ExportGraph`): a wrapper
module with tensors in and one tensor out, example inputs, and the names of both. Graphs start
after the model's ``data_preprocessor`` (what ``forward(inputs, mode='tensor')`` receives), in
eval mode. Each modality registers a function ``model -> [ExportGraph]`` in
:data:`mmkd.registry.EXPORTERS` under its model's class name, in its ``edge_graphs`` module:

=======================  ==================  ==========================================  ===========
model                    graph               inputs -> output                            formats
=======================  ==================  ==========================================  ===========
``ConvClassifier``       ``model``           ``images`` [B, C, 8, 8] -> ``logits``       both
``PointNetClassifier``   ``model``           ``points`` [B, N, 3 + F] -> ``logits``      both
``DGCNNClassifier``      ``model``           ``points`` [B, N, 3 + F] -> ``logits``      torchscript
``OpenCLIPModel``        ``image_encoder``   ``image`` [B, 3, H, W] in [0, 1] at the     both
                                             model's size -> ``image_embeds`` (L2-normed)
                         ``text_encoder``    ``tokens`` [B, context_length] int64 (its
                                             own tokenizer) -> ``text_embeds`` (L2-normed)
``DiffusionModel``       ``unet``            ``sample`` [B, C, H, W], ``timestep`` [B]   both
                                             int64 -> ``out`` (epsilon or v)
=======================  ==================  ==========================================  ===========

The batch dimension is dynamic in every graph. ONNX uses the TorchScript-based exporter
(``dynamo=False``: no onnxscript needed); TorchScript graphs are ``torch.jit.trace`` d. Each
export is reloaded (onnxruntime on CPU, ``torch.jit.load``) and run on a new input of another
batch size (3; exported with 2) against PyTorch: ``max_abs_diff``. Teachers and connectors are
never exported: only the student of a distillation config is built.
"""
import json
import os
import os.path as osp
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from mmkd.errors import InvalidValueError, StateError, WrongTypeError
from mmkd.fileio import atomic_write_bytes
from mmkd.registry import EXPORTERS

from .student import build_student

__all__ = ['FORMATS', 'SUFFIXES', 'CHECK_BATCH', 'ExportGraph', 'example_generator', 'edge_graphs',
           'mha_fastpath', 'export_graph', 'check_graph', 'export_model', 'export_student_edge']

FORMATS = ('onnx', 'torchscript')
SUFFIXES = {'onnx': '.onnx', 'torchscript': '.pt'}
EXPORT_BATCH, CHECK_BATCH = 2, 3        # the check's batch differs: the dynamic batch is exercised

Inputs = Tuple[Tensor, ...]


@dataclass
class ExportGraph:
    """One exportable graph of a model.

    ``example_inputs(batch_size, seed)`` gives inputs for ``module`` (eval mode, plain tensors in,
    one tensor out). ``onnx_export(path) -> path`` and ``onnx_check(path) -> max abs diff``
    replace the generic ONNX export and check where a modality has its own (the diffusion UNet).
    ``unsupported`` maps a format to the reason it cannot be exported.
    """
    name: str
    module: nn.Module
    example_inputs: Callable[[int, int], Inputs]
    input_names: Sequence[str]
    output_names: Sequence[str]
    onnx_export: Optional[Callable[[str], str]] = None
    onnx_check: Optional[Callable[[str], float]] = None
    unsupported: Optional[Dict[str, str]] = None


def example_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def edge_graphs(model: nn.Module) -> List[ExportGraph]:
    """The graphs of ``model`` (put in eval mode), from the exporter registered for its class or
    the nearest base class; ``TypeError`` naming the model's class when there is none."""
    for cls in type(model).__mro__:
        if cls.__name__ in EXPORTERS:
            model.eval()
            found = EXPORTERS.get(cls.__name__)(model)
            for graph in found:
                # A new wrapper is in train mode, and exporting puts the whole tree in its mode.
                graph.module.eval()
            return found
    raise WrongTypeError(f'{type(model).__name__}: no edge-export wrapper; exportable models: '
                         f'{", ".join(sorted(EXPORTERS.module_dict))} (and their subclasses)')


# ------------------------------------------------------------------------ export and check
@contextmanager
def mha_fastpath(enabled: bool) -> Iterator[None]:
    """Switch ``nn.MultiheadAttention``'s inference fast path (open_clip's transformers) on or
    off. Off, attention runs as separate matmuls and softmax: the fused op has no ONNX symbolic
    and ``FlopCounterMode`` does not count it; the maths is the same."""
    previous = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(enabled)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(previous)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InvalidValueError(f'format: expected one of {FORMATS}, got {fmt!r}')


def export_graph(graph: ExportGraph, path: str, fmt: str, opset: int = 17) -> str:
    """Write ``graph`` to ``path`` as ONNX (dynamic batch) or a traced TorchScript module."""
    _check_format(fmt)
    if graph.unsupported and fmt in graph.unsupported:
        raise InvalidValueError(graph.unsupported[fmt])
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    if fmt == 'onnx' and graph.onnx_export is not None:
        return graph.onnx_export(path)
    inputs = graph.example_inputs(EXPORT_BATCH, 0)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')  # TracerWarnings of shape checks in the libraries
        if fmt == 'torchscript':
            torch.jit.save(torch.jit.trace(graph.module, inputs, check_trace=False), path)
            return path
        names = [*graph.input_names, *graph.output_names]
        with mha_fastpath(False):
            torch.onnx.export(graph.module, inputs, path, input_names=list(graph.input_names),
                              output_names=list(graph.output_names),
                              dynamic_axes={name: {0: 'batch'} for name in names},
                              opset_version=opset, dynamo=False)
    return path


def check_graph(graph: ExportGraph, path: str, fmt: str, batch_size: int = CHECK_BATCH,
                seed: int = 1) -> float:
    """Max abs difference between the reloaded export (onnxruntime on CPU, or
    ``torch.jit.load``) and PyTorch on new inputs (another batch size than the export's)."""
    _check_format(fmt)
    if fmt == 'onnx' and graph.onnx_check is not None:
        return graph.onnx_check(path)
    inputs = graph.example_inputs(batch_size, seed)
    with torch.no_grad():
        ours = graph.module(*inputs)
        if fmt == 'onnx':
            import onnxruntime
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3  # not the shape warnings of PyG's traced scatter
            session = onnxruntime.InferenceSession(path, options,
                                                   providers=['CPUExecutionProvider'])
            feed = {name: x.numpy() for name, x in zip(graph.input_names, inputs)}
            theirs = torch.from_numpy(session.run(None, feed)[0])
        else:
            theirs = torch.jit.load(path)(*inputs)
    if theirs.shape != ours.shape:
        raise StateError(f'{path}: output shape {tuple(theirs.shape)}, PyTorch gives '
                         f'{tuple(ours.shape)}')
    return float((theirs - ours).abs().max())


def export_model(model: nn.Module, out_dir: str, fmt: str) -> Dict[str, Dict[str, Any]]:
    """Export every graph of ``model`` to ``out_dir/<graph><suffix>`` and check it:
    ``{graph: dict(path, inputs, outputs, max_abs_diff)}``."""
    _check_format(fmt)
    written = {}
    for graph in edge_graphs(model):
        path = export_graph(graph, osp.join(out_dir, graph.name + SUFFIXES[fmt]), fmt)
        written[graph.name] = dict(path=path, inputs=list(graph.input_names),
                                   outputs=list(graph.output_names),
                                   max_abs_diff=check_graph(graph, path, fmt))
    return written


# ------------------------------------------------------------------------- from a config
def export_student_edge(config: str, checkpoint: Optional[str], out_dir: str, fmt: str,
                        student: Optional[str] = None) -> Dict[str, Any]:
    """Export the student of ``config`` (or its model) with ``checkpoint``'s weights to
    ``out_dir`` (one file per graph) and write ``out_dir/export.json`` with the graphs, their
    input and output names and their parity against PyTorch."""
    _check_format(fmt)
    model, _ = build_student(config, checkpoint, student)
    info = dict(format=fmt, model=type(model).__name__, config=osp.abspath(config),
                checkpoint=osp.abspath(checkpoint) if checkpoint else None,
                graphs=export_model(model, out_dir, fmt))
    atomic_write_bytes(json.dumps(info, indent=2).encode(), osp.join(out_dir, 'export.json'))
    return info
