"""Models for cross-modal (image / CLIP -> point cloud) distillation.

* :class:`MultiViewImageClassifier`: an MVCNN-style image teacher on the rendered depth views of
  a point cloud (:class:`mmkd.pointcloud.views.PointCloudWithViews` puts them in
  ``data_samples['views']``); a ``Distill`` teacher spec with ``inputs='batch.views'`` feeds it.
* :class:`ULIPPointEncoder`: a point-cloud encoder projected into a CLIP embedding space
  (ULIP-style student), with CLIP-style zero-shot classification from a frozen text tower.

Both are MMEngine ``BaseModel`` s with the modes of
:class:`mmkd.classification.models.ConvClassifier` (``'tensor'``, ``'loss'``, ``'predict'``,
labels from ``data_samples['labels']``).
"""
import os
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor, nn

from mmkd.errors import InvalidValueError, MissingFileError, StateError
from mmkd.registry import MODELS
from mmkd.shared.classifier import (conv_bn_relu, masked_cross_entropy, predictions,
                                    sample_labels)

__all__ = ['MultiViewImageClassifier', 'ViewMaxPool', 'ULIPPointEncoder']


class ViewMaxPool(nn.Module):
    """``[B, V, C] -> [B, C]``: element-wise max over the views (MVCNN's view pooling)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.amax(dim=1)


def _parse_views(inputs: Any, in_channels: int) -> Tensor:
    views = inputs['views'] if isinstance(inputs, dict) and 'views' in inputs else inputs
    expected = (f'views [B, V, {in_channels}, H, W] (a tensor, or a dict with key \'views\', '
                f'e.g. data_samples[\'views\'] of PointCloudWithViews)')
    if not isinstance(views, Tensor) or views.dim() != 5 or views.shape[2] != in_channels \
            or not views.is_floating_point() or views.shape[0] == 0 or views.shape[1] == 0:
        got = (f'a {views.dtype} tensor of shape {tuple(views.shape)}'
               if isinstance(views, Tensor) else
               (f'a dict with keys {sorted(views)}' if isinstance(views, dict)
                else type(views).__name__))
        raise InvalidValueError(f'inputs: expected {expected}, got {got}')
    return views


@MODELS.register_module()
class MultiViewImageClassifier(BaseModel):
    """MVCNN (Su et al., ICCV 2015) on rendered depth views: one shared small CNN (the
    conv-BN-ReLU stages of :class:`~mmkd.classification.models.ConvClassifier`) applied to every
    view, global average pooling per view, element-wise max over the views, linear head.

    Args:
        in_channels: channels of a view (1 for depth views).
        channels: output channels of each stage; stages after the first halve the resolution.
        num_classes: classes.
        convs_per_stage: conv blocks per stage.
        dropout: dropout before the head.

    Inputs: ``[B, V, C, H, W]`` views, or a dict holding them under ``'views'``.

    Recordable modules: ``backbone.stage<i>`` / ``backbone`` (maps ``[B * V, C_i, h, w]``),
    ``view_maps`` (the last maps ``[B, V, C, h, w]``, the per-pixel teacher features of
    :class:`~mmkd.crossmodal.losses.PointPixelContrastiveLoss`), ``view_features`` (per-view
    global features ``[B, V, C]``), ``pooled`` (``[B, C]``) and ``head`` (logits).
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (32, 64),
                 num_classes: int = 10, convs_per_stage: int = 1, dropout: float = 0.0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.in_channels = int(in_channels)
        stages = OrderedDict()
        c = self.in_channels
        for i, out_channels in enumerate(channels):
            layers = [nn.MaxPool2d(2)] if i > 0 else []
            for _ in range(convs_per_stage):
                layers.append(conv_bn_relu(c, out_channels))
                c = out_channels
            stages[f'stage{i + 1}'] = nn.Sequential(*layers)
        self.backbone = nn.Sequential(stages)
        self.view_maps = nn.Identity()
        self.view_features = nn.Identity()
        self.pooled = ViewMaxPool()
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c, num_classes))
        self.num_classes = num_classes
        self.out_channels = c

    def logits(self, views: Tensor) -> Tensor:
        b, v = views.shape[:2]
        maps = self.backbone(views.flatten(0, 1))  # [B * V, C, h, w]
        maps = self.view_maps(maps.view(b, v, *maps.shape[1:]))
        feats = self.view_features(maps.mean(dim=(-2, -1)))  # [B, V, C]
        return self.head(self.pooled(feats))

    def forward(self, inputs: Any, data_samples: Optional[Dict[str, Any]] = None,
                mode: str = 'tensor') -> Any:
        """``'tensor'`` -> logits ``[B, num_classes]``; ``'loss'`` -> ``dict(loss_cls)``;
        ``'predict'`` -> one dict per sample (``scores``, ``pred_label``, ``gt_label``)."""
        if mode not in ('tensor', 'loss', 'predict'):
            raise InvalidValueError(f"mode: expected 'tensor', 'loss' or 'predict', got {mode!r}")
        logits = self.logits(_parse_views(inputs, self.in_channels))
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            labels = sample_labels(data_samples).to(logits.device)
            return dict(loss_cls=masked_cross_entropy(logits, labels))
        return predictions(logits, data_samples)


def _load_class_embeds(class_embeds: Any) -> Tensor:
    if isinstance(class_embeds, str):
        if not os.path.isfile(class_embeds):
            raise MissingFileError(f"class_embeds: file '{class_embeds}' does not exist")
        if class_embeds.endswith('.npy'):
            class_embeds = np.load(class_embeds)
        else:
            class_embeds = torch.load(class_embeds, map_location='cpu', weights_only=True)
    embeds = torch.as_tensor(np.asarray(class_embeds) if not torch.is_tensor(class_embeds)
                             else class_embeds).float()
    if embeds.dim() != 2 or embeds.shape[0] == 0:
        raise InvalidValueError('class_embeds: expected a [num_classes, D] tensor of class text '
                                f'embeddings, got shape {tuple(embeds.shape)}')
    return F.normalize(embeds, dim=1)


@MODELS.register_module()
class ULIPPointEncoder(BaseModel):
    """A point-cloud encoder mapped into a CLIP embedding space (the 3D encoder of ULIP, Xue et
    al., CVPR 2023), with zero-shot classification against CLIP class text embeddings.

    ``point_embed = normalize(proj(backbone_features))``: the backbone is any registered point
    classifier of :mod:`mmkd.pointcloud.models` (``PointNetClassifier``,
    ``PointNet2Classifier``, ``DGCNNClassifier``) whose ``head`` is replaced by ``nn.Identity``,
    so its ``'tensor'`` output is its global feature (``pool`` / ``global_sa``, ``[B,
    backbone.out_channels]``); ``proj`` is a linear layer to ``embed_dim``.

    Zero-shot classifier (``[K, D]``, one L2-normalised text embedding per class), from exactly
    one frozen source, built once at construction:

    * ``class_embeds``: precomputed class text embeddings, a ``[K, D]`` tensor / array or the
      path of a ``.pt`` / ``.npy`` file of one (e.g. saved from
      ``OpenCLIPModel.zero_shot_classifier()``); or
    * ``text_encoder`` + ``zero_shot=dict(classes, templates)``: an ``OpenCLIPModel`` config
      (with ``pretrained=<local checkpoint>``), built only to compute the classifier with the
      CLIP recipe (per class: normalised embeddings of every template, averaged, renormalised)
      and then discarded.

    The classifier is a non-persistent buffer: it follows ``.to()`` but is never in the state
    dict, so neither the text tower nor the classifier is trained or saved in checkpoints /
    student exports (a model rebuilt from its config recomputes it).

    Args:
        backbone: the point model config (a ``MODELS`` dict) or module.
        embed_dim: CLIP embedding dim D.
        zero_shot: ``dict(classes=[...], templates=[...])``, used with ``text_encoder``.
        text_encoder: an ``OpenCLIPModel`` config (see above).
        class_embeds: precomputed ``[K, D]`` class embeddings (see above).
        logit_scale: the exp'd logit scale of the zero-shot scores (CLIP's ~100).
        init_seed: seed of the forked RNG initialising ``proj`` (``None``: global RNG).

    Modes: ``'tensor'`` -> ``point_embed [B, D]``; ``'loss'`` -> ``dict(loss_zs=CE(logit_scale *
    point_embed @ classifier^T, labels))`` with a classifier, else ``{}`` (train it with
    distillation losses only, e.g. ULIP's :class:`~mmkd.crossmodal.losses.CrossModalInfoNCELoss`);
    ``'predict'`` -> one dict per sample: ``point_embeds``, with a classifier ``scores`` =
    ``softmax(logit_scale * cos(point_embed, class_k))`` and ``pred_label``, ``gt_label`` when
    labels are given (for :class:`mmkd.vlm.metrics.ZeroShotAccuracy`).

    Recordable: ``backbone.*`` (e.g. ``backbone.encoder``, ``backbone.pool``), ``proj`` (raw
    projection ``[B, D]``), ``point_embed`` (normalised ``[B, D]``).
    """

    def __init__(self, backbone: Union[dict, nn.Module], embed_dim: int = 512,
                 zero_shot: Optional[dict] = None, text_encoder: Optional[dict] = None,
                 class_embeds: Any = None, logit_scale: float = 100.0,
                 init_seed: Optional[int] = 0, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone) if isinstance(backbone, dict) else backbone
        channels = getattr(self.backbone, 'out_channels', None)
        if not isinstance(channels, int) or not hasattr(self.backbone, 'head'):
            raise InvalidValueError('backbone: expected a point classifier with a head and '
                                    'out_channels (e.g. PointNetClassifier), got '
                                    f'{type(self.backbone).__name__}')
        self.backbone.head = nn.Identity()
        self.feature_channels = channels
        self.embed_dim = int(embed_dim)
        fork = torch.random.fork_rng(devices=[]) if init_seed is not None else None
        if fork is not None:
            fork.__enter__()
            torch.manual_seed(init_seed)
        try:
            self.proj = nn.Linear(channels, self.embed_dim)
        finally:
            if fork is not None:
                fork.__exit__(None, None, None)
        self.point_embed = nn.Identity()
        if logit_scale <= 0:
            raise InvalidValueError('logit_scale: expected the exp\'d scale > 0, got '
                                    f'{logit_scale}')
        self.logit_scale = float(logit_scale)
        self.classes: Optional[List[str]] = None
        self.register_buffer('classifier', self._build_classifier(
            zero_shot, text_encoder, class_embeds), persistent=False)

    def _build_classifier(self, zero_shot: Optional[dict], text_encoder: Optional[dict],
                          class_embeds: Any) -> Optional[Tensor]:
        if class_embeds is not None and text_encoder is not None:
            raise InvalidValueError('ULIPPointEncoder: give either class_embeds (precomputed) or '
                                    'text_encoder + zero_shot, not both')
        if zero_shot is not None:
            if not isinstance(zero_shot, dict) or 'classes' not in zero_shot or \
                    not set(zero_shot) <= {'classes', 'templates'}:
                raise InvalidValueError('zero_shot: expected dict(classes=[...], '
                                        f'templates=[...]), got {zero_shot!r}')
            self.classes = list(zero_shot['classes'])
        if class_embeds is not None:
            classifier = _load_class_embeds(class_embeds)
        elif text_encoder is not None:
            if zero_shot is None or 'templates' not in zero_shot:
                raise InvalidValueError('ULIPPointEncoder: text_encoder needs '
                                        'zero_shot=dict(classes=[...], templates=[...])')
            encoder = MODELS.build(text_encoder)
            if not hasattr(encoder, 'set_zero_shot'):
                raise InvalidValueError('text_encoder: expected an OpenCLIPModel config, got '
                                        f'{type(encoder).__name__}')
            encoder.eval()
            encoder.set_zero_shot(**zero_shot)
            with torch.no_grad():
                classifier = encoder.zero_shot_classifier().detach().float().cpu().clone()
            del encoder
        else:
            if zero_shot is not None:
                raise InvalidValueError('ULIPPointEncoder: zero_shot needs a text source: '
                                        'text_encoder (an OpenCLIPModel config) or class_embeds')
            return None
        if classifier.shape[1] != self.embed_dim:
            raise InvalidValueError(f'zero-shot classifier has dim {classifier.shape[1]} but '
                                    f'embed_dim={self.embed_dim}')
        if self.classes is not None and len(self.classes) != classifier.shape[0]:
            raise InvalidValueError(f'zero_shot.classes has {len(self.classes)} names but '
                                    f'class_embeds has {classifier.shape[0]} rows')
        return classifier

    def embed(self, inputs: Any) -> Tensor:
        """``point_embed [B, D]``, L2-normalised."""
        feats = self.backbone(inputs, None, mode='tensor')
        return self.point_embed(F.normalize(self.proj(feats), dim=-1))

    def zero_shot_logits(self, point_embeds: Tensor) -> Tensor:
        if self.classifier is None:
            raise StateError('ULIPPointEncoder: no zero-shot classifier; give class_embeds or '
                             'text_encoder + zero_shot')
        return self.logit_scale * point_embeds @ self.classifier.to(point_embeds.dtype).t()

    def forward(self, inputs: Any, data_samples: Optional[Dict[str, Any]] = None,
                mode: str = 'tensor') -> Any:
        if mode not in ('tensor', 'loss', 'predict'):
            raise InvalidValueError(f"mode: expected 'tensor', 'loss' or 'predict', got {mode!r}")
        embeds = self.embed(inputs)
        if mode == 'tensor':
            return embeds
        if mode == 'loss':
            if self.classifier is None:
                return {}
            logits = self.zero_shot_logits(embeds)
            return dict(loss_zs=F.cross_entropy(logits,
                                                sample_labels(data_samples).to(logits.device)))
        results: List[Dict[str, Any]] = [dict(point_embeds=e) for e in embeds]
        if self.classifier is not None:
            scores = self.zero_shot_logits(embeds).softmax(dim=-1)
            for result, score in zip(results, scores):
                result.update(scores=score, pred_label=score.argmax())
        if isinstance(data_samples, dict) and data_samples.get('labels') is not None:
            for result, label in zip(results, data_samples['labels']):
                if int(label) >= 0:
                    result['gt_label'] = label
        return results

