from .at import ATLoss
from .crd import CRDLoss
from .dist import DISTLoss
from .dkd import DKDLoss
from .feature_mse import FeatureMSELoss
from .kd import KDLoss
from .multi_teacher_kd import MultiTeacherKDLoss
from .pkt import PKTLoss
from .rkd import RKDLoss
from .sp import SPLoss
from .utils import check_same_batch, check_same_shape, kl_div_with_temperature

__all__ = [
    'ATLoss', 'CRDLoss', 'DISTLoss', 'DKDLoss', 'FeatureMSELoss', 'KDLoss', 'MultiTeacherKDLoss',
    'PKTLoss', 'RKDLoss', 'SPLoss', 'check_same_batch', 'check_same_shape',
    'kl_div_with_temperature'
]
