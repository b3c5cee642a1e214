"""A small CNN image classifier whose width and depth make both teacher and student.

Recordable modules: ``backbone.stage<i>`` (feature maps ``[N, C_i, H, W]``), ``backbone`` (the
last map), ``pool`` (``[N, C]`` global feature) and ``head`` (logits ``[N, num_classes]``).
"""
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from mmkd.registry import MODELS


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


@MODELS.register_module()
class ConvClassifier(BaseModel):
    """Stages of ``convs_per_stage`` 3x3 conv-BN-ReLU blocks; stages after the first halve the
    resolution with a max-pool.

    Args:
        channels: output channels of each stage.
        convs_per_stage: conv blocks per stage.
        dropout: dropout before the linear head.
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (32, 64),
                 num_classes: int = 10, convs_per_stage: int = 1, dropout: float = 0.0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        stages = OrderedDict()
        for i, out_channels in enumerate(channels):
            layers = [nn.MaxPool2d(2)] if i > 0 else []
            for _ in range(convs_per_stage):
                layers.append(conv_bn_relu(in_channels, out_channels))
                in_channels = out_channels
            stages[f'stage{i + 1}'] = nn.Sequential(*layers)
        self.backbone = nn.Sequential(stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_channels, num_classes))
        self.num_classes = num_classes

    def forward(self, inputs: Tensor, data_samples: Optional[Dict[str, Any]] = None,
                mode: str = 'tensor') -> Any:
        if inputs.dim() != 4:
            raise ValueError(f'inputs: expected images [N, C, H, W], got shape '
                             f'{tuple(inputs.shape)}')
        logits = self.head(self.pool(self.backbone(inputs)))
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            return dict(loss_cls=F.cross_entropy(logits, _labels(data_samples)))
        if mode == 'predict':
            return predictions(logits, data_samples)
        raise ValueError(f"mode: expected 'tensor', 'loss' or 'predict', got {mode!r}")


def _labels(data_samples: Optional[Dict[str, Any]]) -> Tensor:
    if not isinstance(data_samples, dict) or 'labels' not in data_samples:
        raise KeyError("data_samples: the 'loss' mode needs data_samples['labels']")
    return data_samples['labels']


def predictions(logits: Tensor, data_samples: Optional[Dict[str, Any]]) -> List[Dict[str, Tensor]]:
    """One dict per sample with ``scores``, ``pred_label`` and (when known) ``gt_label``."""
    scores = logits.softmax(dim=1)
    results = [dict(scores=s, pred_label=s.argmax()) for s in scores]
    if isinstance(data_samples, dict) and 'labels' in data_samples:
        for result, label in zip(results, data_samples['labels']):
            result['gt_label'] = label
    return results
