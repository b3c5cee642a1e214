"""CLIP-KD's gradient distillation (GD): Yang et al., "CLIP-KD: An Empirical Study of CLIP Model
Distillation" (CVPR 2024).

Official code: https://github.com/winycg/CLIP-KD (``src/open_clip/loss.py``: ``get_grad`` and
``gd_loss`` in ``KDClipLoss``).
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.registry import LOSSES
from .utils import Scale, check_clip_embeds, check_logit_scale, normalize, teacher_normalize


def contrastive_grads(anchors: Tensor, keys: Tensor, scale: Tensor) -> Tuple[Tensor, Tensor]:
    """Closed-form gradients of ``sum_k -log softmax_b(scale * <a_k, k_b>)[k]``.

    With ``P = softmax_rows(scale * A K^T)`` and ``Y`` the identity (positives on the diagonal):
    ``d/da_k = scale * sum_b (P_kb - Y_kb) k_b`` and ``d/dk_b = scale * sum_k (P_kb - Y_kb) a_k``,
    i.e. ``scale * (P - Y) K`` and ``scale * (P - Y)^T A``.
    """
    residual = (scale * anchors @ keys.t()).softmax(dim=1)
    residual = residual - torch.eye(residual.shape[0], dtype=residual.dtype,
                                    device=residual.device)
    return scale * residual @ keys, scale * residual.t() @ anchors


@LOSSES.register_module()
class GDLoss(nn.Module):
    """Match the student's gradients of the contrastive losses to the teacher's.

    For each direction (image-to-text with images as anchors and texts as keys, text-to-image
    the other way round) and each model, the gradients of the InfoNCE loss summed over the
    anchors ``L = sum_k -log softmax_b(s <a_k, k_b>)[k]`` are written in closed form from the
    softmax probabilities ``P`` (the paper's ``dL/dv_k = 1/tau sum_b (p_kb - y_kb) t_b``, with
    ``1 / tau = s`` the model's exp'd logit scale; see ``contrastive_grads``)::

        G_anchor = s (P - Y) K,   G_key = s (P - Y)^T A

    and the loss is ``mean((G_anchor^S - G_anchor^T)^2)`` (element-wise, ``F.mse_loss``) summed
    over the two directions, plus the same for ``G_key`` when ``key_grads`` (as the official
    code, which matches four gradients). Embeddings are L2-normalised; the gradients are
    w.r.t. the normalised embeddings. Student and teacher gradients are compared element-wise,
    so the student embeddings must have the teacher's dim (connector). The student side stays
    differentiable (the closed form is an ordinary function of the student's embeddings and
    logit scale); the teacher side is detached.

    Differences from the official code: its ``get_grad`` differentiates the batch-mean loss
    (1/B times these gradients) and divides the logits by the exp'd logit scale it is given
    instead of multiplying (a temperature of ~100 for a trained CLIP; hence its loss weight of
    1e8). Here the scale multiplies, as in the paper's formula, and the gradients of the summed
    loss (per-anchor gradients for the anchors) keep the value's scale independent of B.

    Args:
        key_grads: also match the gradients w.r.t. the keys (texts for image-to-text, images
            for text-to-image). ``False`` matches only the anchor gradients.
    """

    shape_pairs = (('student_image_embeds', 'teacher_image_embeds'),
                   ('student_text_embeds', 'teacher_text_embeds'))

    def __init__(self, key_grads: bool = True) -> None:
        super().__init__()
        self.key_grads = key_grads

    def forward(self, student_image_embeds: Tensor, student_text_embeds: Tensor,
                teacher_image_embeds: Tensor, teacher_text_embeds: Tensor,
                student_logit_scale: Scale, teacher_logit_scale: Scale) -> Tensor:
        check_clip_embeds(student_image_embeds, student_text_embeds, teacher_image_embeds,
                          teacher_text_embeds, same_dim=True)
        s_scale = check_logit_scale('student_logit_scale', student_logit_scale,
                                    student_image_embeds)
        s_img, s_txt = normalize(student_image_embeds), normalize(student_text_embeds)
        with torch.no_grad():
            t_scale = check_logit_scale('teacher_logit_scale', teacher_logit_scale,
                                        student_image_embeds)
            t_img = teacher_normalize(teacher_image_embeds, student_image_embeds)
            t_txt = teacher_normalize(teacher_text_embeds, student_text_embeds)
            t_i2t = contrastive_grads(t_img, t_txt, t_scale)  # (d/d images, d/d texts)
            t_t2i = contrastive_grads(t_txt, t_img, t_scale)  # (d/d texts, d/d images)
        s_i2t = contrastive_grads(s_img, s_txt, s_scale)
        s_t2i = contrastive_grads(s_txt, s_img, s_scale)
        loss = F.mse_loss(s_i2t[0], t_i2t[0]) + F.mse_loss(s_t2i[0], t_t2i[0])
        if self.key_grads:
            loss = loss + F.mse_loss(s_i2t[1], t_i2t[1]) + F.mse_loss(s_t2i[1], t_t2i[1])
        return loss
