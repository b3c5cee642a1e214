"""Edge-export graph of the image classifiers (:mod:`mmkd.engine.graph_export`)."""
from typing import List, Tuple

import torch
from torch import Tensor, nn

from mmkd.engine.graph_export import ExportGraph, example_generator
from mmkd.registry import EXPORTERS

DIGITS_SIZE = 8  # ConvClassifier's example images (the 8x8 digits)


class ImageLogits(nn.Module):
    """``images [B, C, H, W] -> logits [B, classes]``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tensor:
        return self.model(images, mode='tensor')


@EXPORTERS.register_module(name='ConvClassifier')
def classifier_graphs(model: nn.Module) -> List[ExportGraph]:
    in_channels = next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels

    def images(batch_size: int, seed: int) -> Tuple[Tensor]:
        return torch.rand(batch_size, in_channels, DIGITS_SIZE, DIGITS_SIZE,
                          generator=example_generator(seed)),

    return [ExportGraph('model', ImageLogits(model), images, ['images'], ['logits'])]
