"""ULIP's point-to-text and point-to-image contrastive losses: Xue et al., "ULIP: Learning a
Unified Representation of Language, Images, and Point Clouds for 3D Understanding" (CVPR 2023).

Both are the same symmetric CLIP InfoNCE between the point embeddings and a frozen CLIP embedding
of each sample (its caption / class prompt, or its rendered view(s)), so one class serves both:
ULIP is two instances of :class:`CrossModalInfoNCELoss` with different teacher inputs.
"""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.errors import InvalidValueError
from mmkd.registry import LOSSES
from mmkd.vlm.losses.utils import (Scale, check_logit_scale, normalize,
                                   symmetric_contrastive_loss, teacher_normalize)


def _shape(x) -> str:
    return tuple(x.shape) if torch.is_tensor(x) else type(x).__name__


@LOSSES.register_module()
class CrossModalInfoNCELoss(nn.Module):
    """``(InfoNCE(P -> T) + InfoNCE(T -> P)) / 2`` between student (point) embeddings ``P``
    ``[B, D]`` and frozen teacher (CLIP text or image) embeddings ``T``::

        logits = s * normalize(P) @ normalize(T)^T                     [B, B]
        InfoNCE(logits) = -1/B sum_k log softmax(logits[k])[k]

    Row ``k`` of ``T`` is sample ``k``'s embedding. Teacher embeddings ``[B, V, D]`` (one per
    rendered view) are L2-normalised, averaged over the views and renormalised. The teacher side
    is detached (and cast to the student's dtype); gradients reach ``P`` and a learnable scale.

    The exp'd logit scale ``s``: the forward argument ``logit_scale`` when given (e.g. a recorded
    scale), else the loss's own: fixed ``logit_scale`` (default ``1 / 0.07``, CLIP's init), or,
    with ``learnable=True``, a parameter ``log_scale`` initialised at ``log(logit_scale)`` and
    clamped to at most ``max_logit_scale`` (as CLIP / ULIP). Note a batch holding several
    samples of one class with class prompts has identical text rows (false negatives), as in
    ULIP's class-prompt setting.

    Args:
        logit_scale: initial / fixed exp'd scale.
        learnable: learn the scale (a parameter of the loss, trained with the student).
        max_logit_scale: clamp of a learnable scale.

    ULIP (point -> text and point -> image) with a frozen CLIP teacher whose rendered-view
    images and captions the dataset provides as ``data_samples['clip_inputs'] =
    dict(image=FloatTensor[B, 3, H, W], text=list[str])`` (depth views repeated to 3 channels;
    class prompts such as ``'a depth map of a {class}'`` or captions)::

        model = dict(
            type='Distill',
            student=dict(type='ULIPPointEncoder', embed_dim=512,
                         backbone=dict(type='PointNetClassifier', num_classes=1)),
            teachers=dict(clip=dict(model=dict(type='OpenCLIPModel', model_name='ViT-B-16',
                                               pretrained='work_dirs/clip/vit_b16.pt'),
                                    inputs='batch.clip_inputs')),
            distiller=dict(
                recorders=dict(student=dict(point='point_embed'),
                               clip=dict(text='text_embed', image='image_embed')),
                losses=dict(
                    loss_pc_text=dict(type='CrossModalInfoNCELoss', learnable=True, inputs=dict(
                        student_embeds='student.point', teacher_embeds='clip.text')),
                    loss_pc_image=dict(type='CrossModalInfoNCELoss', learnable=True, inputs=dict(
                        student_embeds='student.point', teacher_embeds='clip.image')))))

    (precomputed CLIP embeddings stored with the dataset work as well: ``teacher_embeds=
    'batch.text_embeds'``, ``'batch.image_embeds'`` as ``[B, D]`` or ``[B, V, D]``).
    """

    def __init__(self, logit_scale: float = 1 / 0.07, learnable: bool = False,
                 max_logit_scale: Optional[float] = 100.0) -> None:
        super().__init__()
        if logit_scale <= 0:
            raise InvalidValueError('logit_scale must be > 0 (the exp\'d scale), got '
                                    f'{logit_scale}')
        self.learnable = learnable
        self.max_logit_scale = max_logit_scale
        log_scale = torch.tensor(math.log(logit_scale))
        if learnable:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer('log_scale', log_scale, persistent=False)

    def scale(self) -> Tensor:
        """The loss's own exp'd logit scale (clamped when learnable)."""
        log_scale = self.log_scale
        if self.learnable and self.max_logit_scale is not None:
            log_scale = log_scale.clamp(max=math.log(self.max_logit_scale))
        return log_scale.exp()

    def forward(self, student_embeds: Tensor, teacher_embeds: Tensor,
                logit_scale: Optional[Scale] = None) -> Tensor:
        if not torch.is_tensor(student_embeds) or student_embeds.dim() != 2:
            raise InvalidValueError('student_embeds must be [B, D] embeddings, got '
                                    f'{_shape(student_embeds)}')
        if not torch.is_tensor(teacher_embeds) or teacher_embeds.dim() not in (2, 3):
            raise InvalidValueError('teacher_embeds must be [B, D] (or [B, V, D] per view) '
                                    f'embeddings, got {_shape(teacher_embeds)}')
        b, d = student_embeds.shape
        if teacher_embeds.shape[0] != b or teacher_embeds.shape[-1] != d:
            raise InvalidValueError(f'student_embeds has shape {tuple(student_embeds.shape)} but '
                                    f'teacher_embeds has shape {tuple(teacher_embeds.shape)}; they '
                                    'need the same B (samples) and D (add a connector / '
                                    'projection on the student side)')
        with torch.no_grad():
            teacher = teacher_embeds.detach().to(student_embeds.dtype)
            if teacher.dim() == 3:  # per-view embeddings: mean of the normalised views
                teacher = F.normalize(teacher, dim=-1).mean(dim=1)
            teacher = teacher_normalize(teacher, student_embeds)
        if logit_scale is None:
            scale = self.scale().to(device=student_embeds.device, dtype=student_embeds.dtype)
        else:
            scale = check_logit_scale('logit_scale', logit_scale, student_embeds)
        return symmetric_contrastive_loss(normalize(student_embeds), teacher, scale)
