"""Helpers shared by the logit losses."""
import torch
import torch.nn.functional as F
from torch import Tensor

from mmkd.errors import InvalidValueError


def kl_div_with_temperature(student_logits: Tensor, teacher_probs: Tensor,
                            temperature: float) -> Tensor:
    """``T^2 * KL(teacher_probs || softmax(student_logits / T))``, "batchmean" reduced.

    Classes are on dim 1. The KL is summed over classes and averaged over every other position
    (samples, and pixels or points for dense outputs), so for ``[N, C]`` inputs it is PyTorch's
    ``reduction='batchmean'``, never the per-element ``'mean'`` that divides by C as well. The
    ``T^2`` factor keeps gradient magnitudes comparable across temperatures (Hinton et al. 2015).
    """
    log_p_student = F.log_softmax(student_logits / temperature, dim=1)
    kl = (teacher_probs * (torch.log(teacher_probs.clamp_min(1e-12)) - log_p_student)).sum(1)
    return kl.mean() * temperature ** 2


def check_positive(loss: str, **values: float) -> None:
    """Refuse a temperature (or another scale) that is not > 0, naming the loss and argument."""
    for name, value in values.items():
        if not value > 0:
            raise InvalidValueError(f'{loss}: {name} must be > 0, got {value}')


def check_non_negative(loss: str, **values: float) -> None:
    """Refuse a negative term weight, naming the loss and argument."""
    for name, value in values.items():
        if not value >= 0:
            raise InvalidValueError(f'{loss}: {name} must be >= 0, got {value}')


def check_same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    """Raise a ValueError that names both tensors when their shapes differ."""
    if a.shape != b.shape:
        raise InvalidValueError(f'{name_a} has shape {tuple(a.shape)} but {name_b} has shape '
                                f'{tuple(b.shape)}; they must match (add a connector on the '
                                'student side to map one onto the other)')


def check_same_batch(student_feats: Tensor, teacher_feats: Tensor, min_size: int = 1) -> None:
    """Relation losses compare samples with samples: both must be ``[N, ...]`` with one N."""
    n = student_feats.shape[0] if student_feats.dim() else 0
    if student_feats.dim() < 2 or teacher_feats.dim() < 2 or n != teacher_feats.shape[0] \
            or n < min_size:
        size = 'N' if min_size <= 1 else f'N >= {min_size}'
        raise InvalidValueError('student_feats and teacher_feats must be [N, ...] batches of the '
                                f'same size {size}, got shapes {tuple(student_feats.shape)} and '
                                f'{tuple(teacher_feats.shape)}')
