"""CLIP-KD's interactive contrastive learning (ICL): Yang et al., "CLIP-KD: An Empirical Study of
CLIP Model Distillation" (CVPR 2024).

Official code: https://github.com/winycg/CLIP-KD (``src/open_clip/loss.py``, ``KDClipLoss``:
``icl_loss``).
"""
import torch
from torch import Tensor, nn

from mmkd.registry import LOSSES
from .utils import (Scale, check_clip_embeds, check_logit_scale, clip_logits, contrastive_loss,
                    normalize, teacher_normalize)


@LOSSES.register_module()
class ICLLoss(nn.Module):
    """``(InfoNCE(I_S -> T_T) + InfoNCE(T_S -> I_T)) / 2`` with the student's logit scale.

    The student's image embeddings are anchors contrasted against the teacher's text
    embeddings, and the student's texts against the teacher's images::

        InfoNCE(A -> K) = -1/B sum_k log( exp(s <a_k, k_k>) / sum_b exp(s <a_k, k_b>) )

    with ``s`` the student's exp'd logit scale (it receives gradients) and L2-normalised
    embeddings. The teacher's embeddings are detached, so they act as a fixed embedding space
    the student is pulled into; when the student equals the teacher it is the teacher's own CLIP
    loss (not 0). Student and teacher embeddings are compared by inner product: the student
    embeddings must have the teacher's dim (connector). The official code uses a separate
    learnable scale owned by the loss (``cross_logit_scale``); the student's is used here.
    """

    shape_pairs = (('student_image_embeds', 'teacher_image_embeds'),
                   ('student_text_embeds', 'teacher_text_embeds'))

    def forward(self, student_image_embeds: Tensor, student_text_embeds: Tensor,
                teacher_image_embeds: Tensor, teacher_text_embeds: Tensor,
                student_logit_scale: Scale) -> Tensor:
        check_clip_embeds(student_image_embeds, student_text_embeds, teacher_image_embeds,
                          teacher_text_embeds, same_dim=True)
        scale = check_logit_scale('student_logit_scale', student_logit_scale,
                                  student_image_embeds)
        with torch.no_grad():
            t_img = teacher_normalize(teacher_image_embeds, student_image_embeds)
            t_txt = teacher_normalize(teacher_text_embeds, student_text_embeds)
        s_img, s_txt = normalize(student_image_embeds), normalize(student_text_embeds)
        image_to_text, _ = clip_logits(s_img, t_txt, scale)
        text_to_image, _ = clip_logits(s_txt, t_img, scale)
        return (contrastive_loss(image_to_text) + contrastive_loss(text_to_image)) / 2
