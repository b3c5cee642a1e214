"""CLIP-KD's feature distillation (FD): Yang et al., "CLIP-KD: An Empirical Study of CLIP Model
Distillation" (CVPR 2024).

Official code: https://github.com/winycg/CLIP-KD (``src/open_clip/loss.py``, ``KDClipLoss``:
``fd_loss``; ``script/methods/FD.sh``: loss weight 2000).
"""
from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.registry import LOSSES
from .utils import check_clip_embeds, normalize, row_mask, teacher_normalize


@LOSSES.register_module()
class FDLoss(nn.Module):
    """``w_I * mean((I_S - I_T)^2) + w_T * mean((T_S - T_T)^2)`` over every element.

    ``I``, ``T`` are the L2-normalised image and text embeddings ``[B, D]`` of the student (S)
    and teacher (T). When the embedding dims differ, a connector (a ``Linear``, applied by the
    distiller) maps the student embeddings to the teacher dim; its output is normalised here, as
    the official code normalises the projected student embedding. The means are element-wise
    (``F.mse_loss``, as the official code, which the paper's loss weight of 2000 goes with);
    the paper's per-sample squared distance is ``D`` times that. Teacher embeddings are detached.

    With ``text_mask`` (``[B]`` bool, e.g. ``'batch.captioned'`` of
    :class:`~mmkd.vlm.datasets.CaptionScarce`), the text term averages over the masked rows only
    (images without a caption have no text to match); no masked row gives 0.

    Args:
        image_weight: weight ``w_I`` of the image term.
        text_weight: weight ``w_T`` of the text term.
    """

    shape_pairs = (('student_image_embeds', 'teacher_image_embeds'),
                   ('student_text_embeds', 'teacher_text_embeds'))

    def __init__(self, image_weight: float = 1.0, text_weight: float = 1.0) -> None:
        super().__init__()
        self.image_weight = image_weight
        self.text_weight = text_weight

    def forward(self, student_image_embeds: Tensor, student_text_embeds: Tensor,
                teacher_image_embeds: Tensor, teacher_text_embeds: Tensor,
                text_mask: Optional[Tensor] = None) -> Tensor:
        check_clip_embeds(student_image_embeds, student_text_embeds, teacher_image_embeds,
                          teacher_text_embeds, same_dim=True)
        image = F.mse_loss(normalize(student_image_embeds),
                           teacher_normalize(teacher_image_embeds, student_image_embeds))
        student_text = normalize(student_text_embeds)
        teacher_text = teacher_normalize(teacher_text_embeds, student_text_embeds)
        if text_mask is not None:
            text_mask = row_mask(text_mask, len(student_text), 'FDLoss.text_mask', 'text',
                                 student_text.device)
            student_text, teacher_text = student_text[text_mask], teacher_text[text_mask]
        text = (F.mse_loss(student_text, teacher_text) if len(student_text)
                else student_text_embeds.sum() * 0.0)
        return self.image_weight * image + self.text_weight * text
