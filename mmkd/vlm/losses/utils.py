"""Helpers shared by the CLIP-style distillation losses.

Conventions of every loss in this package:

* embeddings are ``[B, D]`` tensors, row ``k`` of the image and of the text embeddings being the
  ``k``-th (image, caption) pair of the batch; the in-batch contrastive problem is to find the
  matching row among the ``B`` candidates;
* every embedding is L2-normalised along dim 1 inside the loss. The open_clip adapter already
  returns normalised embeddings, for which this is a no-op up to rounding (and leaves gradients
  unchanged: the projection onto the sphere's tangent plane is idempotent); it makes the losses
  correct for connector outputs, which are not normalised;
* logit scales are the exp'd scales (open_clip's ``logit_scale.exp()``, ~100 for a trained CLIP),
  scalar tensors (or plain numbers); logits are ``scale * <image, text>``;
* the teacher side (embeddings and logit scale) is detached, and cast to the student's dtype
  (half-precision teachers): gradients reach the student's embeddings, the student's logit
  scale and the loss's own parameters only.
"""
from typing import Any, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from mmkd.errors import InvalidValueError

Scale = Union[Tensor, float]


def check_embeds(image_name: str, image: Tensor, text_name: str, text: Tensor) -> None:
    """One model's embeddings: both ``[B, D]`` with one B (pairs) and one D (shared space)."""
    for name, x in ((image_name, image), (text_name, text)):
        if not torch.is_tensor(x) or x.dim() != 2:
            shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
            raise InvalidValueError(f'{name} must be a [B, D] tensor of embeddings, got {shape}')
    if image.shape != text.shape:
        raise InvalidValueError(f'{image_name} has shape {tuple(image.shape)} but {text_name} has '
                                f'shape {tuple(text.shape)}; the image and text embeddings of one '
                                'model must be [B, D] with the same B (image-caption pairs) and D '
                                '(joint space)')


def row_mask(flags: Any, rows: int, name: str, row: str,
             device: Optional[torch.device] = None) -> Tensor:
    """``flags`` (a bool tensor or sequence, e.g. ``data_samples['captioned']``) as a flat bool
    mask of ``rows`` rows on ``device``; a count that differs names ``name`` and what a ``row``
    is."""
    mask = torch.as_tensor(flags, dtype=torch.bool, device=device).flatten()
    if mask.numel() != rows:
        raise InvalidValueError(f'{name}: expected {rows} flags, one per {row}, got '
                                f'{mask.numel()}')
    return mask


def check_same_batch(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    """Student and teacher embed the same ``B`` pairs (their dims may differ)."""
    if a.shape[0] != b.shape[0]:
        raise InvalidValueError(f'{name_a} has shape {tuple(a.shape)} but {name_b} has shape '
                                f'{tuple(b.shape)}; student and teacher must embed the same batch '
                                '(same B)')


def check_same_dim(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    """Losses comparing student and teacher embeddings element-wise need one ``[B, D]``."""
    if a.shape != b.shape:
        raise InvalidValueError(f'{name_a} has shape {tuple(a.shape)} but {name_b} has shape '
                                f'{tuple(b.shape)}; they must match (add a connector on the '
                                'student side that maps the student embedding to the teacher dim)')


def check_clip_embeds(student_image_embeds: Tensor, student_text_embeds: Tensor,
                      teacher_image_embeds: Tensor, teacher_text_embeds: Tensor,
                      same_dim: bool) -> None:
    """The four embeddings of a CLIP-style loss: each model's pair passes ``check_embeds``, and
    student and teacher embed the same batch (``same_dim=False``) or, for losses comparing them
    element-wise or by inner product, also have one dim (``same_dim=True``). The text embeddings
    need no cross-model check: ``check_embeds`` gives them their model's image shape."""
    check_embeds('student_image_embeds', student_image_embeds, 'student_text_embeds',
                 student_text_embeds)
    check_embeds('teacher_image_embeds', teacher_image_embeds, 'teacher_text_embeds',
                 teacher_text_embeds)
    check_pair = check_same_dim if same_dim else check_same_batch
    check_pair('student_image_embeds', student_image_embeds, 'teacher_image_embeds',
               teacher_image_embeds)


def check_logit_scale(name: str, scale: Optional[Scale], like: Tensor) -> Tensor:
    """A scalar logit scale as a 0-dim tensor on ``like``'s device and dtype."""
    if scale is None:
        raise InvalidValueError(f'{name} is required (the exp\'d logit scale, a scalar tensor)')
    if not torch.is_tensor(scale):
        scale = torch.as_tensor(float(scale))
    if scale.numel() != 1:
        raise InvalidValueError(f'{name} must be a scalar (the exp\'d logit scale), got shape '
                                f'{tuple(scale.shape)}')
    return scale.reshape(()).to(device=like.device, dtype=like.dtype)


def normalize(x: Tensor) -> Tensor:
    """Row-wise L2 normalisation (see the module docstring)."""
    return F.normalize(x, p=2, dim=1)


def teacher_normalize(x: Tensor, like: Tensor) -> Tensor:
    """A teacher's embeddings: detached, in ``like``'s dtype, L2-normalised."""
    return normalize(x.detach().to(like.dtype))


def clip_logits(image: Tensor, text: Tensor, scale: Tensor) -> Tuple[Tensor, Tensor]:
    """In-batch logits ``[B, B]``: image-to-text ``scale * I T^T`` and text-to-image, its
    transpose (``scale * T I^T``)."""
    logits_per_image = scale * image @ text.t()
    return logits_per_image, logits_per_image.t()


def contrastive_loss(logits: Tensor) -> Tensor:
    """InfoNCE of ``[B, B]`` logits whose positives are on the diagonal, mean over anchors."""
    labels = torch.arange(logits.shape[0], device=logits.device)
    return F.cross_entropy(logits, labels)


def symmetric_contrastive_loss(image: Tensor, text: Tensor, scale: Tensor) -> Tensor:
    """CLIP's loss: ``(InfoNCE(image -> text) + InfoNCE(text -> image)) / 2``."""
    logits_per_image, logits_per_text = clip_logits(image, text, scale)
    return (contrastive_loss(logits_per_image) + contrastive_loss(logits_per_text)) / 2
