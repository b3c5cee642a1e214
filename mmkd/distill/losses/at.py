"""AT: Zagoruyko and Komodakis, "Paying More Attention to Attention: Improving the Performance of
Convolutional Neural Networks via Attention Transfer" (ICLR 2017).

Official code: https://github.com/szagoruyko/attention-transfer (``utils.py``: ``at``, ``at_loss``).
"""
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.errors import InvalidValueError
from mmkd.registry import LOSSES


@LOSSES.register_module()
class ATLoss(nn.Module):
    """``mean_{i, k} (a_s[i, k] - a_t[i, k])^2`` with ``a(F) = normalize(mean_c |F_c|^p)``.

    The attention map of each sample is the channel mean of ``|F|^p``, flattened over the
    spatial positions and L2-normalised; the squared difference is averaged over samples and
    positions, i.e. the official ``(at(x) - at(y)).pow(2).mean()``. Channel counts may differ
    between student and teacher; batch and spatial sizes must match.

    Args:
        p: exponent of the activation magnitudes (official: 2).
    """

    shape_pairs = ()

    def __init__(self, p: float = 2) -> None:
        super().__init__()
        self.p = p

    def attention(self, feats: Tensor) -> Tensor:
        """``[N, C, *spatial]`` -> L2-normalised attention maps ``[N, prod(spatial)]``."""
        return F.normalize(feats.abs().pow(self.p).mean(dim=1).flatten(1), p=2, dim=1)

    def forward(self, student_feats: Tensor, teacher_feats: Tensor) -> Tensor:
        for name, feats in (('student_feats', student_feats), ('teacher_feats', teacher_feats)):
            if feats.dim() < 3:
                raise InvalidValueError(f'{name} must be a feature map [N, C, H, W] (or [N, C, '
                                        f'*spatial]), got shape {tuple(feats.shape)}')
        s_shape, t_shape = tuple(student_feats.shape), tuple(teacher_feats.shape)
        if s_shape[0] != t_shape[0] or s_shape[2:] != t_shape[2:]:
            raise InvalidValueError(f'student_feats has shape {s_shape} but teacher_feats has '
                                    f'shape {t_shape}; batch and spatial sizes must match (only '
                                    'channels may differ; resize one of them, e.g. with a '
                                    'connector)')
        diff = self.attention(student_feats) - self.attention(teacher_feats.detach())
        return diff.pow(2).mean()
