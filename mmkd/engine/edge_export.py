"""Edge export of a student: ONNX or TorchScript graphs of plain tensors, checked against PyTorch.

Each exportable model is seen through one or more *graphs*: a wrapper module with tensors in and
one tensor out, example inputs, and the names of both. Graphs start after the model's
``data_preprocessor`` (what ``forward(inputs, mode='tensor')`` receives), in eval mode:

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
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .checkpoint import atomic_write_bytes, load_weights

__all__ = ['FORMATS', 'SUFFIXES', 'ExportGraph', 'edge_graphs', 'mha_fastpath', 'export_graph',
           'check_graph', 'export_model', 'deployable_model_config', 'build_deployable_model',
           'export_student_edge']

FORMATS = ('onnx', 'torchscript')
SUFFIXES = {'onnx': '.onnx', 'torchscript': '.pt'}
EXPORT_BATCH, CHECK_BATCH = 2, 3        # the check's batch differs: the dynamic batch is exercised
POINTS_PER_CLOUD = 512                  # what the point-cloud configs train on
DIGITS_SIZE = 8                         # ConvClassifier's images (the 8x8 digits)
CAPTIONS = ('a red cube on the left', 'two blue spheres', 'a green cone above a yellow torus',
            'an empty scene', 'a small purple cylinder next to a large box')

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


# ------------------------------------------------------------------------------- wrappers
class ImageLogits(nn.Module):
    """``images [B, C, H, W] -> logits [B, classes]``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        return self.model(images, mode='tensor')


class PointLogits(nn.Module):
    """``points [B, N, 3 + F] -> logits [B, classes]``. The number of clouds is taken from the
    input's shape (traced as such), not from the batch vector's values, which a trace would
    freeze."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, points: Tensor) -> Tensor:
        from mmkd.pointcloud.models import parse_point_inputs
        pos, x, batch, _ = parse_point_inputs(points, self.model.in_channels)
        return self.model.logits(pos, x, batch, points.size(0))


class CLIPImageEncoder(nn.Module):
    """``image [B, 3, H, W] in [0, 1] -> image_embeds [B, D]`` (normalised with the model's mean
    and std inside the graph; H, W must be the model's ``image_size``: resizing stays outside)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: Tensor) -> Tensor:
        return self.model.encode_image(image)


class CLIPTextEncoder(nn.Module):
    """``tokens [B, context_length] int64 -> text_embeds [B, D]`` (tokenizing stays outside)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor) -> Tensor:
        return F.normalize(self.model.clip.encode_text(tokens), dim=-1)


# ------------------------------------------------------------------------ graphs per model
def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _classifier_graphs(model: nn.Module) -> List[ExportGraph]:
    in_channels = next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels

    def images(batch_size: int, seed: int) -> Inputs:
        return torch.rand(batch_size, in_channels, DIGITS_SIZE, DIGITS_SIZE,
                          generator=_generator(seed)),

    return [ExportGraph('model', ImageLogits(model), images, ['images'], ['logits'])]


def _point_graphs(model: nn.Module) -> List[ExportGraph]:
    from mmkd.pointcloud.models import DGCNNClassifier, PointNetClassifier
    name = type(model).__name__
    if not isinstance(model, (PointNetClassifier, DGCNNClassifier)):
        raise TypeError(f'{name}: no edge-export wrapper (its FPS and ball query build '
                        'data-dependent graphs that do not trace); exportable point-cloud '
                        'models: PointNetClassifier, DGCNNClassifier')
    unsupported = None
    if isinstance(model, DGCNNClassifier):
        unsupported = dict(onnx=f'{name}: ONNX export is not supported (its kNN graph, '
                                'mmkd.pointcloud.ops, uses aten::bincount, which has no ONNX '
                                "op); use format='torchscript'")

    def points(batch_size: int, seed: int) -> Inputs:
        cloud = torch.rand(batch_size, POINTS_PER_CLOUD, 3 + model.in_channels,
                           generator=_generator(seed))
        return cloud * 2 - 1,

    return [ExportGraph('model', PointLogits(model), points, ['points'], ['logits'],
                        unsupported=unsupported)]


def _clip_graphs(model: nn.Module) -> List[ExportGraph]:
    def image(batch_size: int, seed: int) -> Inputs:
        return torch.rand(batch_size, 3, *model.image_size, generator=_generator(seed)),

    def tokens(batch_size: int, seed: int) -> Inputs:
        picks = torch.randint(len(CAPTIONS), (batch_size,), generator=_generator(seed))
        return model.tokenize([CAPTIONS[i] for i in picks]),

    return [ExportGraph('image_encoder', CLIPImageEncoder(model), image, ['image'],
                        ['image_embeds']),
            ExportGraph('text_encoder', CLIPTextEncoder(model), tokens, ['tokens'],
                        ['text_embeds'])]


def _unet_graphs(model: nn.Module) -> List[ExportGraph]:
    from mmkd.diffusion.export import (UNetTensorOutput, check_onnx_unet, export_unet_onnx,
                                       unet_example_inputs)
    unet = model.unet
    return [ExportGraph(
        'unet', UNetTensorOutput(unet),
        lambda batch_size, seed: unet_example_inputs(unet, batch_size, seed),
        ['sample', 'timestep'], ['out'],
        onnx_export=lambda path: export_unet_onnx(unet, path),
        onnx_check=lambda path: check_onnx_unet(unet, path, CHECK_BATCH, seed=1))]


# (module, class name) -> graphs. A model can only be an instance of a class whose module is
# imported, so looking the classes up in sys.modules imports no modality that is not in use.
_GRAPHS = {
    ('mmkd.classification.models', 'ConvClassifier'): _classifier_graphs,
    ('mmkd.pointcloud.models', '_PointClassifier'): _point_graphs,
    ('mmkd.vlm.models', 'OpenCLIPModel'): _clip_graphs,
    ('mmkd.diffusion.models', 'DiffusionModel'): _unet_graphs,
}
EXPORTABLE = ('ConvClassifier', 'PointNetClassifier', 'DGCNNClassifier (TorchScript only)',
              'OpenCLIPModel', 'DiffusionModel')


def edge_graphs(model: nn.Module) -> List[ExportGraph]:
    """The graphs of ``model`` (put in eval mode); ``TypeError`` naming the model's class when it
    has no export wrapper."""
    for (module, name), graphs in _GRAPHS.items():
        cls = getattr(sys.modules.get(module), name, None)
        if cls is not None and isinstance(model, cls):
            model.eval()
            found = graphs(model)
            for graph in found:
                # A new wrapper is in train mode, and exporting puts the whole tree in its mode.
                graph.module.eval()
            return found
    raise TypeError(f'{type(model).__name__}: no edge-export wrapper; exportable models: '
                    f'{", ".join(EXPORTABLE)}')


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
        raise ValueError(f'format: expected one of {FORMATS}, got {fmt!r}')


def export_graph(graph: ExportGraph, path: str, fmt: str, opset: int = 17) -> str:
    """Write ``graph`` to ``path`` as ONNX (dynamic batch) or a traced TorchScript module."""
    _check_format(fmt)
    if graph.unsupported and fmt in graph.unsupported:
        raise ValueError(graph.unsupported[fmt])
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
        raise RuntimeError(f'{path}: output shape {tuple(theirs.shape)}, PyTorch gives '
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
def deployable_model_config(cfg: Any, student: Optional[str] = None) -> Tuple[dict, str]:
    """``(model config, its key prefix in a checkpoint)``: the student of a distillation config
    (``'student.'`` / ``'students.<name>.'``), else the config's model itself (``''``)."""
    from .export import student_config, student_prefix
    if 'student' in cfg.model or 'students' in cfg.model:
        return student_config(cfg, student).model.to_dict(), student_prefix(cfg.model, student)
    return cfg.model.to_dict(), ''


def build_deployable_model(config: str, checkpoint: Optional[str] = None,
                           student: Optional[str] = None) -> nn.Module:
    """The model :func:`deployable_model_config` names, in eval mode, with the checkpoint's
    weights (strict; random initialisation when ``checkpoint`` is None)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmkd.registry import MODELS
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmkd'))
    model_cfg, prefix = deployable_model_config(cfg, student)
    model = MODELS.build(model_cfg)
    if checkpoint is not None:
        load_weights(model, checkpoint, 'checkpoint', prefix or None)
    return model.eval()


def export_student_edge(config: str, checkpoint: Optional[str], out_dir: str, fmt: str,
                        student: Optional[str] = None) -> Dict[str, Any]:
    """Export the student of ``config`` (or its model) with ``checkpoint``'s weights to
    ``out_dir`` (one file per graph) and write ``out_dir/export.json`` with the graphs, their
    input and output names and their parity against PyTorch."""
    _check_format(fmt)
    model = build_deployable_model(config, checkpoint, student)
    info = dict(format=fmt, model=type(model).__name__, config=osp.abspath(config),
                checkpoint=osp.abspath(checkpoint) if checkpoint else None,
                graphs=export_model(model, out_dir, fmt))
    atomic_write_bytes(json.dumps(info, indent=2).encode(), osp.join(out_dir, 'export.json'))
    return info
