"""CLIP-KD's augmented feature distillation (AFD): Yang et al., "CLIP-KD: An Empirical Study of
CLIP Model Distillation" (CVPR 2024).

Official code: https://github.com/winycg/CLIP-KD (``src/open_clip/loss.py``, ``KDClipLoss``:
``visual_fusion_proj``, ``text_fusion_proj`` and ``afd_loss``).
"""
import torch
from torch import Tensor, nn

from mmkd.errors import InvalidValueError
from mmkd.registry import LOSSES
from .utils import (Scale, check_clip_embeds, check_logit_scale, normalize,
                    symmetric_contrastive_loss, teacher_normalize)


@LOSSES.register_module()
class AFDLoss(nn.Module):
    """CLIP's contrastive loss on student embeddings augmented with the teacher's.

    Each modality has a learnable linear fusion over the concatenation of the (L2-normalised)
    student and teacher embeddings, ``[B, student_dim + teacher_dim] -> [B, student_dim]``; its
    output is L2-normalised and fed to the symmetric in-batch InfoNCE::

        I_F = normalize(W_I [I_S ; I_T] + b_I),   T_F = normalize(W_T [T_S ; T_T] + b_T)
        loss = (InfoNCE(s * I_F T_F^T) + InfoNCE(s * T_F I_F^T)) / 2

    with ``s`` the student's exp'd logit scale. The teacher embeddings are detached; gradients
    reach the student embeddings, the student's logit scale and the two fusion layers, which
    train with the student and are dropped at export (the student alone is deployed). The
    fusion takes the raw student embedding (no connector needed): ``student_dim`` is the
    student's embedding size as given to the loss.

    The official code fuses the (projected) student and teacher embeddings the same way, with
    ``nn.Linear(s_dim + t_dim, s_dim)`` per modality, but scales the fused logits with a
    separate learnable parameter it does not exponentiate (``fusion_logit_scale``, 2.66 at
    initialisation); here the student's logit scale is used, as for the student's own CLIP loss.

    Args:
        student_dim: size of the student's embeddings.
        teacher_dim: size of the teacher's embeddings.
    """

    shape_pairs = ()

    def __init__(self, student_dim: int, teacher_dim: int) -> None:
        super().__init__()
        self.student_dim = student_dim
        self.teacher_dim = teacher_dim
        self.image_fusion = nn.Linear(student_dim + teacher_dim, student_dim)
        self.text_fusion = nn.Linear(student_dim + teacher_dim, student_dim)

    def _check_dim(self, name: str, embeds: Tensor, dim: int, arg: str) -> None:
        if embeds.shape[1] != dim:
            raise InvalidValueError(f'{name} has shape {tuple(embeds.shape)} but the loss was '
                                    f'built with {arg}={dim}')

    def forward(self, student_image_embeds: Tensor, student_text_embeds: Tensor,
                teacher_image_embeds: Tensor, teacher_text_embeds: Tensor,
                student_logit_scale: Scale) -> Tensor:
        check_clip_embeds(student_image_embeds, student_text_embeds, teacher_image_embeds,
                          teacher_text_embeds, same_dim=False)
        self._check_dim('student_image_embeds', student_image_embeds, self.student_dim,
                        'student_dim')
        self._check_dim('teacher_image_embeds', teacher_image_embeds, self.teacher_dim,
                        'teacher_dim')
        scale = check_logit_scale('student_logit_scale', student_logit_scale,
                                  student_image_embeds)
        with torch.no_grad():
            t_img = teacher_normalize(teacher_image_embeds, student_image_embeds)
            t_txt = teacher_normalize(teacher_text_embeds, student_text_embeds)
        fused_img = self.image_fusion(torch.cat([normalize(student_image_embeds), t_img], dim=1))
        fused_txt = self.text_fusion(torch.cat([normalize(student_text_embeds), t_txt], dim=1))
        return symmetric_contrastive_loss(normalize(fused_img), normalize(fused_txt), scale)
