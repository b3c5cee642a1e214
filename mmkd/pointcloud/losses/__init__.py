"""Point-cloud distillation losses, registered in :data:`mmkd.registry.LOSSES`."""
from .point_distiller import PointDistillerLoss
from .point_feature import PointFeatureLoss, check_point_set

__all__ = ['PointDistillerLoss', 'PointFeatureLoss', 'check_point_set']
