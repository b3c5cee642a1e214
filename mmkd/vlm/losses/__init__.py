"""CLIP-style (image-text) distillation losses; conventions in ``utils``'s docstring."""
from .afd import AFDLoss
from .affinity_mimicking import AffinityMimickingLoss
from .clip_affinity import ClipAffinityLoss
from .clip_crd import ClipCRDLoss
from .fd import FDLoss
from .gd import GDLoss
from .icl import ICLLoss
from .mfd import MFDLoss

__all__ = [
    'AFDLoss', 'AffinityMimickingLoss', 'ClipAffinityLoss', 'ClipCRDLoss', 'FDLoss', 'GDLoss',
    'ICLLoss', 'MFDLoss'
]
