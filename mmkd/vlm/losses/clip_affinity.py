"""In-batch image-text logit distillation of open_clip's ``DistillClipLoss``.

Reference: mlfoundations/open_clip, ``src/open_clip/loss.py`` (``DistillClipLoss.dist_loss``),
used there for the distillation runs of Cherti et al., "Reproducible scaling laws for contrastive
language-image learning" (CVPR 2023).
"""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from mmkd.errors import InvalidValueError
from mmkd.registry import LOSSES
from .utils import (Scale, check_clip_embeds, check_logit_scale, clip_logits, normalize,
                    teacher_normalize)


def soft_cross_entropy(student_logits: Tensor, teacher_probs: Tensor) -> Tensor:
    """``-mean_i sum_j q_ij log softmax(student_logits)_ij`` over the rows i of ``[B, B]``."""
    return -(teacher_probs * student_logits.log_softmax(dim=1)).sum(dim=1).mean()


@LOSSES.register_module()
class ClipAffinityLoss(nn.Module):
    """``(CE(Q_I2T, P_I2T) + CE(Q_T2I, P_T2I)) / 2`` over the in-batch image-text logits.

    With L2-normalised embeddings (see ``mmkd.vlm.losses.utils``), for the student (S) and the
    teacher (T), ``P_I2T = softmax_rows(s_S * I_S T_S^T)``, ``P_T2I = softmax_rows(s_S * T_S
    I_S^T)`` and ``Q_I2T``, ``Q_T2I`` the same from the teacher's embeddings and scale ``s_T``::

        CE(Q, P) = -1/B sum_i sum_j Q_ij log P_ij

    ``s_S``, ``s_T`` are the models' own (exp'd) logit scales, or both ``1 / temperature`` when
    a fixed ``temperature`` is given. The loss is a cross-entropy, not a KL: it equals the KL
    plus the teacher's mean entropy, a constant for the student, so the gradients are the KL's
    and the minimum (student == teacher) is the teacher's entropy, not 0 (``ClipCRDLoss`` is the
    KL). Gradients reach the student's embeddings and logit scale; the teacher is detached.
    Student and teacher embedding dims may differ (only the ``[B, B]`` logits are compared), so
    no connector is needed.

    Args:
        temperature: when given, both models' logits are ``<., .> / temperature`` and the logit
            scales are not used (may be omitted); ``None`` (default): each model's own scale.
    """

    shape_pairs = ()

    def __init__(self, temperature: Optional[float] = None) -> None:
        super().__init__()
        if temperature is not None and not temperature > 0:
            raise InvalidValueError(f'temperature must be positive or None, got {temperature}')
        self.temperature = temperature

    def divergence(self, student_logits: Tensor, teacher_probs: Tensor) -> Tensor:
        """Per-direction term: the soft cross-entropy (``ClipCRDLoss`` uses the KL)."""
        return soft_cross_entropy(student_logits, teacher_probs)

    def _scale(self, name: str, scale: Optional[Scale], like: Tensor) -> Tensor:
        if self.temperature is not None:
            return like.new_tensor(1.0 / self.temperature)
        return check_logit_scale(name, scale, like)

    def directional_losses(self, student_image_embeds: Tensor, student_text_embeds: Tensor,
                           teacher_image_embeds: Tensor, teacher_text_embeds: Tensor,
                           student_logit_scale: Optional[Scale] = None,
                           teacher_logit_scale: Optional[Scale] = None) -> Tuple[Tensor, Tensor]:
        """The image-to-text and text-to-image terms, before they are averaged."""
        check_clip_embeds(student_image_embeds, student_text_embeds, teacher_image_embeds,
                          teacher_text_embeds, same_dim=False)
        s_scale = self._scale('student_logit_scale', student_logit_scale, student_image_embeds)
        with torch.no_grad():
            t_scale = self._scale('teacher_logit_scale', teacher_logit_scale,
                                  student_image_embeds)
            t_img = teacher_normalize(teacher_image_embeds, student_image_embeds)
            t_txt = teacher_normalize(teacher_text_embeds, student_text_embeds)
            t_i2t, t_t2i = clip_logits(t_img, t_txt, t_scale)
            q_i2t, q_t2i = t_i2t.softmax(dim=1), t_t2i.softmax(dim=1)
        s_i2t, s_t2i = clip_logits(normalize(student_image_embeds),
                                   normalize(student_text_embeds), s_scale)
        return self.divergence(s_i2t, q_i2t), self.divergence(s_t2i, q_t2i)

    def forward(self, student_image_embeds: Tensor, student_text_embeds: Tensor,
                teacher_image_embeds: Tensor, teacher_text_embeds: Tensor,
                student_logit_scale: Optional[Scale] = None,
                teacher_logit_scale: Optional[Scale] = None) -> Tensor:
        i2t, t2i = self.directional_losses(student_image_embeds, student_text_embeds,
                                           teacher_image_embeds, teacher_text_embeds,
                                           student_logit_scale, teacher_logit_scale)
        return (i2t + t2i) / 2
