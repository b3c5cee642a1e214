"""Cross-modal (image / CLIP -> point cloud) distillation losses."""
from .infonce import CrossModalInfoNCELoss
from .ppkt import PointPixelContrastiveLoss, check_pixel_pairs, flatten_dense_pairs

__all__ = ['CrossModalInfoNCELoss', 'PointPixelContrastiveLoss', 'check_pixel_pairs',
           'flatten_dense_pairs']
