"""Image classifiers for small images: a plain CNN and a CIFAR-style ResNet, whose widths and
depths make both teachers and students, and a pretrained network of another library with a new
head (:class:`PretrainedClassifier`).

Recordable modules: ``backbone.stage<i>`` (feature maps ``[N, C_i, H, W]``), ``backbone`` (the
last map), ``pool`` (``[N, C]`` global feature) and ``head`` (logits ``[N, num_classes]``).
"""
from collections import OrderedDict
from typing import Any, Dict, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from mmkd.errors import ConfigError, InvalidValueError
from mmkd.registry import MODELS, TRANSFORMS
from mmkd.shared.classifier import classifier_outputs, conv_bn_relu
from mmkd.shared.pretrained import build_pretrained


class ImageClassifier(BaseModel):
    """``backbone`` -> ``pool`` -> ``head``, with MMEngine's modes; subclasses build the three."""

    backbone: nn.Module
    pool: nn.Module
    head: nn.Module

    def forward(self, inputs: Tensor, data_samples: Optional[Dict[str, Any]] = None,
                mode: str = 'tensor') -> Any:
        if inputs.dim() != 4:
            raise InvalidValueError('inputs: expected images [N, C, H, W], got shape '
                                    f'{tuple(inputs.shape)}')
        return classifier_outputs(self.head(self.pool(self.backbone(inputs))), data_samples, mode)


@MODELS.register_module()
class ConvClassifier(ImageClassifier):
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


class BasicBlock(nn.Module):
    """ResNet's basic block: two 3x3 conv-BN, a projection shortcut when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x), inplace=True)


@MODELS.register_module()
class ResNetClassifier(ImageClassifier):
    """A CIFAR-style ResNet for small images: a 3x3 stem, then stages of basic blocks; stages
    after the first halve the resolution with a strided first block.

    Recordable modules as :class:`ConvClassifier`: ``backbone.stage<i>``, ``backbone``, ``pool``,
    ``head``.

    Args:
        channels: output channels of each stage (the stem has the first stage's).
        blocks: basic blocks per stage (an int for all stages, or one per stage).
        dropout: dropout before the linear head.
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (32, 64, 128),
                 blocks: Union[int, Sequence[int]] = 2, num_classes: int = 10,
                 dropout: float = 0.0, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        blocks = [blocks] * len(channels) if isinstance(blocks, int) else list(blocks)
        if len(blocks) != len(channels) or min(blocks) < 1:
            raise InvalidValueError(f'blocks: expected one count >= 1 per stage ({len(channels)}), '
                                    f'got {blocks}')
        stages = OrderedDict(stem=conv_bn_relu(in_channels, channels[0]))
        width = channels[0]
        for i, (out_channels, count) in enumerate(zip(channels, blocks)):
            layers = []
            for j in range(count):
                layers.append(BasicBlock(width, out_channels, 2 if i > 0 and j == 0 else 1))
                width = out_channels
            stages[f'stage{i + 1}'] = nn.Sequential(*layers)
        self.backbone = nn.Sequential(stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes))
        self.num_classes = num_classes


@MODELS.register_module()
class PretrainedClassifier(ImageClassifier):
    """A pretrained network from another library (see :mod:`mmkd.shared.pretrained`) with a new
    linear head, behind its own input pipeline: a linear probe (``freeze_backbone=True``: the
    network stays in eval mode and gets no gradients) or a fine-tune.

    The network's own classifier, the attribute ``head_name``, is replaced by an identity, so the
    network outputs its pooled feature. Recordable modules: ``inputs`` (the images as the network
    sees them), ``backbone`` (that network; its own module paths under ``backbone.``), ``pool``
    (the ``[N, C]`` feature) and ``head`` (the logits).

    Args:
        backbone: the network's source, e.g. ``dict(factory='efficientnet_lite_pytorch:'
            'EfficientNet.from_pretrained', args=['efficientnet-lite0'], kwargs=...)``.
        head_name: the attribute holding the network's ``nn.Linear`` classifier (``'_fc'`` for
            EfficientNet, ``'fc'`` for torchvision's ResNets).
        inputs: the network's own input pipeline, a ``TRANSFORMS`` config such as
            ``dict(type='ImageInputs', size=64, mean=0.5, std=0.5)``
            (:class:`~mmkd.shared.model_inputs.ImageInputs`): what turns the dataset's images
            into what the network was trained on.
        freeze_backbone: True for a linear probe.
    """

    def __init__(self, backbone: dict, head_name: str, inputs: dict, num_classes: int = 10,
                 freeze_backbone: bool = True, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.inputs = TRANSFORMS.build(inputs)
        self.backbone = build_pretrained(backbone, 'model.backbone')
        old_head = getattr(self.backbone, head_name, None)
        if not isinstance(old_head, nn.Linear):
            raise ConfigError(f'model.head_name: {type(self.backbone).__name__}.{head_name} is '
                              f'{type(old_head).__name__}, expected its nn.Linear classifier')
        setattr(self.backbone, head_name, nn.Identity())
        self.pool = nn.Identity()
        self.head = nn.Linear(old_head.in_features, num_classes)
        self.num_classes, self.freeze_backbone = num_classes, freeze_backbone
        if freeze_backbone:
            self.backbone.requires_grad_(False)

    def init_weights(self) -> None:
        """Only the new head is initialised; the network keeps its pretrained weights."""
        self.head.reset_parameters()

    def train(self, mode: bool = True) -> 'PretrainedClassifier':
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def forward(self, inputs: Tensor, data_samples: Optional[Dict[str, Any]] = None,
                mode: str = 'tensor') -> Any:
        images = self.inputs(inputs)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_backbone):
            feats = self.backbone(images)
        return classifier_outputs(self.head(self.pool(feats)), data_samples, mode)
