"""Cross-modal distillation: image / CLIP teachers for point-cloud students.

* :mod:`.models`: ``MultiViewImageClassifier`` (MVCNN teacher on rendered depth views) and
  ``PointCLIPEncoder`` (point encoder in a CLIP space with zero-shot classification).
* :mod:`.losses`: ``PointPixelContrastiveLoss`` (PPKT) and ``CrossModalInfoNCELoss`` (ULIP's
  point-text and point-image InfoNCE).
"""
from . import losses  # noqa: F401
from .losses import CrossModalInfoNCELoss, PointPixelContrastiveLoss
from .models import MultiViewImageClassifier, PointCLIPEncoder, ViewMaxPool

__all__ = ['CrossModalInfoNCELoss', 'PointPixelContrastiveLoss', 'MultiViewImageClassifier',
           'PointCLIPEncoder', 'ViewMaxPool']
