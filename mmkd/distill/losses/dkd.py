"""DKD: Zhao, Cui, Song, Qiu and Liang, "Decoupled Knowledge Distillation" (CVPR 2022).

Official code: https://github.com/megvii-research/mdistiller (``mdistiller/distillers/DKD.py``).
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.errors import InvalidValueError
from mmkd.registry import LOSSES

from .utils import check_non_negative, check_positive


def _classes_last(x: Tensor) -> Tensor:
    """``[N, C, *]`` -> ``[M, C]``, one row per sample (and per pixel / point for dense outputs)."""
    return x.movedim(1, -1).reshape(-1, x.shape[1])


def _binary_and_nontarget_log_probs(logits: Tensor, target_mask: Tensor) -> Tuple[Tensor, Tensor]:
    """For ``[M, C]`` logits, return ``log [p_target, p_nontarget]`` ``[M, 2]`` and the
    log-softmax over the ``C - 1`` non-target logits ``[M, C - 1]``, all computed in log space."""
    num_rows, num_classes = logits.shape
    log_z = logits.logsumexp(dim=1)
    target_logit = logits[target_mask]
    nontarget_logits = logits[~target_mask].view(num_rows, num_classes - 1)
    log_nontarget_z = nontarget_logits.logsumexp(dim=1)
    log_binary = torch.stack([target_logit - log_z, log_nontarget_z - log_z], dim=1)
    log_nontarget = nontarget_logits - log_nontarget_z[:, None]
    return log_binary, log_nontarget


@LOSSES.register_module()
class DKDLoss(nn.Module):
    """``alpha * TCKD + beta * NCKD``.

    With ``b = [p_t, 1 - p_t]`` the binary target / non-target probabilities of
    ``softmax(z / T)`` (``t`` the labelled class) and ``p^`` the softmax of ``z / T`` over the
    non-target classes only (target logit removed):

        TCKD = T^2 * KL(b_teacher || b_student)
        NCKD = T^2 * KL(p^_teacher || p^_student)

    each summed over its classes and averaged over samples ("batchmean"), as in the official
    code. Dense logits ``[N, C, *]`` with labels ``[N, *]`` are averaged over every position.
    The official recipe also warms the whole loss up linearly over the first epochs; that is a
    loss-weight schedule and belongs to the distiller, not here.

    Args:
        alpha: weight of the target-class term TCKD.
        beta: weight of the non-target-class term NCKD.
        temperature: softening temperature T.
    """

    shape_pairs = (('student_logits', 'teacher_logits'),)

    def __init__(self, alpha: float = 1.0, beta: float = 8.0, temperature: float = 4.0) -> None:
        super().__init__()
        check_positive('DKDLoss', temperature=temperature)
        check_non_negative('DKDLoss', alpha=alpha, beta=beta)
        self.alpha = alpha
        self.beta = beta
        self.temperature = temperature

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, labels: Tensor) -> Tensor:
        if student_logits.dim() < 2 or student_logits.shape[1] < 2:
            raise InvalidValueError('student_logits must have shape [N, C] or [N, C, ...] with C '
                                    f'>= 2, got {tuple(student_logits.shape)}')
        num_classes = student_logits.shape[1]
        expected = (student_logits.shape[0], *student_logits.shape[2:])
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise InvalidValueError('labels must be an integer tensor of class indices, got dtype '
                                    f'{labels.dtype}')
        if tuple(labels.shape) != expected:
            raise InvalidValueError(f'labels must have shape {expected} (student_logits without '
                                    f'the class dim 1), got {tuple(labels.shape)}')
        if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
            raise InvalidValueError(f'labels must lie in [0, {num_classes}) for {num_classes} '
                                    'classes, '
                             f'got values in [{int(labels.min())}, {int(labels.max())}]')

        T = self.temperature
        student = _classes_last(student_logits) / T
        teacher = _classes_last(teacher_logits.detach()) / T
        target_mask = F.one_hot(labels.reshape(-1).long(), num_classes).bool()

        log_b_s, log_nt_s = _binary_and_nontarget_log_probs(student, target_mask)
        log_b_t, log_nt_t = _binary_and_nontarget_log_probs(teacher, target_mask)
        tckd = (log_b_t.exp() * (log_b_t - log_b_s)).sum(dim=1).mean() * T ** 2
        nckd = (log_nt_t.exp() * (log_nt_t - log_nt_s)).sum(dim=1).mean() * T ** 2
        return self.alpha * tckd + self.beta * nckd
