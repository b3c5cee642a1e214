"""Edge-export graph of the point-cloud classifiers (:mod:`mmkd.engine.graph_export`).

PointNet++ has none: its FPS and ball query build data-dependent graphs that do not trace."""
from typing import List, Tuple

import torch
from torch import Tensor, nn

from mmkd.engine.graph_export import ExportGraph, example_generator
from mmkd.registry import EXPORTERS

from .models import DGCNNClassifier, parse_point_inputs

POINTS_PER_CLOUD = 512  # what the point-cloud configs train on


class PointLogits(nn.Module):
    """``points [B, N, 3 + F] -> logits [B, classes]``. The number of clouds is taken from the
    input's shape (traced as such), not from the batch vector's values, which a trace would
    freeze."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, points: Tensor) -> Tensor:
        pos, x, batch, _ = parse_point_inputs(points, self.model.in_channels)
        return self.model.logits(pos, x, batch, points.size(0))


@EXPORTERS.register_module(name='PointNetClassifier')
@EXPORTERS.register_module(name='DGCNNClassifier')
def point_graphs(model: nn.Module) -> List[ExportGraph]:
    unsupported = None
    if isinstance(model, DGCNNClassifier):
        unsupported = dict(onnx=f'{type(model).__name__}: ONNX export is not supported (its kNN '
                                'graph, mmkd.pointcloud.ops, uses aten::bincount, which has no '
                                "ONNX op); use format='torchscript'")

    def points(batch_size: int, seed: int) -> Tuple[Tensor]:
        cloud = torch.rand(batch_size, POINTS_PER_CLOUD, 3 + model.in_channels,
                           generator=example_generator(seed))
        return cloud * 2 - 1,

    return [ExportGraph('model', PointLogits(model), points, ['points'], ['logits'],
                        unsupported=unsupported)]

