"""What every classifier shares, whatever its input (images, points, views): the conv block, the
outputs of MMEngine's three modes from the logits, the labels of a batch and the loss that skips
hidden labels."""
from typing import Any, Dict, List, Optional

import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.errors import ConfigError, InvalidValueError


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution (no bias), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def classifier_outputs(logits: Tensor, data_samples: Optional[Dict[str, Any]], mode: str) -> Any:
    """What a classifier returns in each MMEngine mode, from its logits."""
    if mode == 'tensor':
        return logits
    if mode == 'loss':
        return dict(loss_cls=masked_cross_entropy(logits, sample_labels(data_samples)))
    if mode == 'predict':
        return predictions(logits, data_samples)
    raise InvalidValueError(f"mode: expected 'tensor', 'loss' or 'predict', got {mode!r}")


def masked_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy averaged over the samples whose label is known; labels of -1 (a transfer
    set's hidden labels) are skipped, and a batch without any known label gives 0."""
    known = labels >= 0
    if bool(known.all()):
        return F.cross_entropy(logits, labels)
    total = F.cross_entropy(logits, labels.clamp(min=0), reduction='none')[known].sum()
    return total / known.sum().clamp(min=1)


def sample_labels(data_samples: Optional[Dict[str, Any]]) -> Tensor:
    """``data_samples['labels']``, with an error that says the loss needs them."""
    if not isinstance(data_samples, dict) or 'labels' not in data_samples:
        raise ConfigError("data_samples: the 'loss' mode needs data_samples['labels']")
    return data_samples['labels']


def predictions(logits: Tensor, data_samples: Optional[Dict[str, Any]]) -> List[Dict[str, Tensor]]:
    """One dict per sample with ``scores``, ``pred_label`` and (when known) ``gt_label``."""
    scores = logits.softmax(dim=1)
    results = [dict(scores=s, pred_label=s.argmax()) for s in scores]
    if isinstance(data_samples, dict) and 'labels' in data_samples:
        for result, label in zip(results, data_samples['labels']):
            result['gt_label'] = label
    return results
