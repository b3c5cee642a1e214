"""What a classifier's outputs on a data set say as distillation targets: accuracy, calibration
and how soft its softened labels are."""
import math
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from mmkd.errors import InvalidValueError


def expected_calibration_error(probs: Tensor, labels: Tensor, num_bins: int = 15) -> float:
    """ECE in percent: the mean over equal-width confidence bins of ``|accuracy - confidence|``,
    weighted by the share of samples in each bin (Guo et al., 2017)."""
    confidence, predicted = probs.max(dim=1)
    correct = (predicted == labels).float()
    bins = torch.clamp((confidence * num_bins).long(), max=num_bins - 1)
    error = torch.zeros(())
    for b in range(num_bins):
        inside = bins == b
        if inside.any():
            gap = (correct[inside].mean() - confidence[inside].mean()).abs()
            error += inside.float().mean() * gap
    return 100.0 * error.item()


def soft_label_stats(logits: Tensor, labels: Tensor, temperature: float = 4.0,
                     other_logits: Optional[Tensor] = None) -> Dict[str, float]:
    """Statistics of ``logits [N, C]`` against ``labels [N]``:

    - ``top1`` (%), ``nll`` (cross-entropy at T=1), ``ece`` (%, at T=1);
    - at ``temperature``: ``target_prob`` (mean probability of the true class), ``max_prob``,
      ``entropy`` (mean entropy over ``log C``: 0 one-hot, 1 uniform) and ``nontarget_entropy``
      (the same for the distribution over the ``C - 1`` wrong classes, renormalised: how much
      "dark knowledge" ranking the wrong classes carry, 1 meaning none; NaN for 2 classes);
    - with ``other_logits`` (the same samples under other augmentations):
      ``augmentation_kl``, the mean ``KL(softmax(logits / T) || softmax(other_logits / T))``:
      how much the targets depend on the augmentation a student is shown.
    """
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise InvalidValueError(f'soft_label_stats: expected logits [N, C] and labels [N], got '
                                f'{tuple(logits.shape)} and {tuple(labels.shape)}')
    if labels.numel() and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise InvalidValueError(f'soft_label_stats: labels must be class indices in '
                                f'[0, {logits.shape[1]}), got {labels.min()}..{labels.max()}')
    if temperature <= 0:
        raise InvalidValueError(f'soft_label_stats: temperature must be > 0, got {temperature}')
    logits, num_classes = logits.double(), logits.shape[1]
    probs = logits.softmax(1)
    soft = (logits / temperature).softmax(1)
    entropy = -(soft * soft.clamp_min(1e-12).log()).sum(1) / math.log(num_classes)
    target = F.one_hot(labels, num_classes).bool()
    # a softmax over the wrong classes alone: renormalising ``soft`` underflows when confident
    others = (logits / temperature).masked_fill(target, float('-inf')).softmax(1)
    nontarget = (-(others * others.clamp_min(1e-12).log()).sum(1) / math.log(num_classes - 1)
                 if num_classes > 2 else torch.full_like(entropy, float('nan')))
    stats = dict(
        top1=100.0 * (probs.argmax(1) == labels).double().mean().item(),
        nll=F.cross_entropy(logits, labels).item(),
        ece=expected_calibration_error(probs, labels),
        target_prob=soft[target].mean().item(),
        max_prob=soft.max(1).values.mean().item(),
        entropy=entropy.mean().item(),
        nontarget_entropy=nontarget.mean().item())
    if other_logits is not None:
        if other_logits.shape != logits.shape:
            raise InvalidValueError(f'soft_label_stats: other_logits {tuple(other_logits.shape)} '
                                    f'must match logits {tuple(logits.shape)}')
        other = (other_logits.double() / temperature).log_softmax(1)
        stats['augmentation_kl'] = F.kl_div(other, soft, reduction='batchmean').item()
    return stats
