"""Cross-modal distillation: image / CLIP teachers for point-cloud students.

* :mod:`.models`: ``MultiViewImageClassifier`` (MVCNN teacher on rendered depth views) and
  ``ULIPPointEncoder`` (point encoder in a CLIP space with zero-shot classification).
* :mod:`.losses`: ``PointPixelContrastiveLoss`` (PPKT) and ``CrossModalInfoNCELoss`` (ULIP's
  point-text and point-image InfoNCE).
* :mod:`.datasets`: ``ShapeViewCaptions`` (captioned depth views of point clouds, for a CLIP
  teacher of 3D shapes and a ULIP-style point student).
"""
from . import losses  # noqa: F401
from .datasets import DEPTH_TEMPLATES, ShapeViewCaptions
from .losses import CrossModalInfoNCELoss, PointPixelContrastiveLoss
from .models import MultiViewImageClassifier, ULIPPointEncoder, ViewMaxPool

__all__ = ['DEPTH_TEMPLATES', 'ShapeViewCaptions', 'CrossModalInfoNCELoss',
           'PointPixelContrastiveLoss', 'MultiViewImageClassifier', 'ULIPPointEncoder',
           'ViewMaxPool']
