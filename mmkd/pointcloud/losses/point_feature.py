"""Per-point feature distillation between point sets that differ, aligned by coordinates.

The teacher's features are carried to the student's points by the inverse-distance-weighted
interpolation of PointNet++'s feature propagation: Qi, Yi, Su and Guibas, "PointNet++: Deep
Hierarchical Feature Learning on Point Sets in a Metric Space" (NeurIPS 2017), eq. (2). The loss
on the aligned features is the FitNets hint loss (Romero et al., ICLR 2015), as
:class:`mmkd.distill.losses.FeatureMSELoss`.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

from mmkd.errors import InvalidValueError
from mmkd.registry import LOSSES

from ..ops import knn


def check_point_set(feats_name: str, feats: Tensor, batch_name: str, batch: Tensor,
                    pos_name: Optional[str] = None, pos: Optional[Tensor] = None) -> None:
    """Check one ragged point set: ``feats [N, C]``, ``batch [N]`` (sorted, non-negative
    integers) and optionally ``pos [N, D]``; a ValueError names the tensors otherwise."""
    if not torch.is_tensor(feats) or feats.dim() != 2:
        got = tuple(feats.shape) if torch.is_tensor(feats) else type(feats).__name__
        raise InvalidValueError(f'{feats_name} must be per-point features [N, C], got {got}')
    n = feats.shape[0]
    if not torch.is_tensor(batch) or batch.dim() != 1 or batch.numel() != n:
        got = tuple(batch.shape) if torch.is_tensor(batch) else type(batch).__name__
        raise InvalidValueError(f'{batch_name} must be [N] with one cloud index per row of '
                                f'{feats_name} (N = {n}), got {got}')
    if batch.is_floating_point() or batch.dtype == torch.bool:
        raise InvalidValueError(f'{batch_name} must be an integer tensor, got {batch.dtype}')
    if n and (int(batch.min()) < 0 or bool((batch[1:] < batch[:-1]).any())):
        raise InvalidValueError(f'{batch_name} must be sorted and non-negative (points of one '
                                'cloud contiguous, clouds in increasing order)')
    if pos is not None:
        if not torch.is_tensor(pos) or pos.dim() != 2 or pos.shape[0] != n \
                or not pos.is_floating_point():
            got = (f'{pos.dtype} {tuple(pos.shape)}' if torch.is_tensor(pos)
                   else type(pos).__name__)
            raise InvalidValueError(f'{pos_name} must be float coordinates [N, 3] with one row per '
                                    f'row of {feats_name} (N = {n}), got {got}')


@LOSSES.register_module()
class PointFeatureLoss(nn.Module):
    """``mean((F_s - interp(F_t))^2)`` over the student's points and channels.

    ``interp(F_t)`` at a student point ``p`` (PointNet++ feature propagation) takes the ``k``
    teacher points ``q_j`` of the same cloud nearest to ``p`` and averages their features with
    weights ``w_j = 1 / (||p - q_j||^2 + eps)``, normalised to sum to 1. A student point that
    coincides exactly with teacher points takes their (mean) feature, the ``eps -> 0`` limit, so
    when both sides hold the same points the loss is exactly ``FeatureMSELoss``. Clouds are
    never mixed (the search is per cloud); a cloud with fewer than ``k`` teacher points uses all
    of them. The teacher side and the coordinates get no gradient.

    ``student_feats`` arrive through the distiller's connector (e.g. ``LinearConnector``), so
    their channels must equal the teacher's. Student and teacher may keep different point sets
    and counts, e.g. PointNet++ ``sa_out`` with different FPS ratios; every cloud of the
    student needs at least one teacher point.

    Args:
        k: teacher neighbours per student point (PointNet++: 3).
        normalize: L2-normalise the student and the interpolated teacher features along the
            channels before the MSE (compares directions only).
        eps: added to the squared distances.

    Wiring through the distiller with PointNet++ (``sa_pos``/``sa_batch`` are recordable)::

        recorders=dict(
            student=dict(feat='sa_out', pos='sa_pos', batch='sa_batch'),
            teacher=dict(feat='sa_out', pos='sa_pos', batch='sa_batch')),
        connectors=dict(feat_s=dict(type='LinearConnector', in_channels=64, out_channels=256)),
        losses=dict(loss_point=dict(type='PointFeatureLoss', k=3, inputs=dict(
            student_feats=dict(source='student.feat', connector='feat_s'),
            student_pos='student.pos', student_batch='student.batch',
            teacher_feats='teacher.feat', teacher_pos='teacher.pos',
            teacher_batch='teacher.batch')))

    With PointNet, whose ``encoder`` keeps every input point, the coordinates are the
    ``encoder``'s input and the cloud indices the second input of ``pool`` (valid for
    ``in_channels=0``; with extra point features the ``encoder`` input is ``[pos, x]``)::

        student=dict(feat='encoder', pos=dict(source='encoder', kind='input'),
                     batch=dict(source='pool', kind='input', index=1))
    """

    shape_pairs = ()

    def __init__(self, k: int = 3, normalize: bool = False, eps: float = 1e-8) -> None:
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidValueError(f'k must be an int >= 1, got {k!r}')
        self.k = k
        self.normalize = normalize
        self.eps = eps

    def interpolate(self, student_pos: Tensor, student_batch: Tensor, teacher_feats: Tensor,
                    teacher_pos: Tensor, teacher_batch: Tensor) -> Tensor:
        """The teacher's features at the student's points, ``[N_s, C]`` (no gradient)."""
        teacher_feats = teacher_feats.detach()
        dtype = torch.promote_types(student_pos.dtype, teacher_pos.dtype)
        student_pos, teacher_pos = student_pos.detach().to(dtype), teacher_pos.detach().to(dtype)
        row, col = knn(teacher_pos, student_pos, self.k, teacher_batch, student_batch)
        sq_dist = (student_pos[row] - teacher_pos[col]).pow(2).sum(1)
        weight = 1.0 / (sq_dist + self.eps)
        exact = sq_dist == 0
        if bool(exact.any()):
            has_exact = scatter(exact.to(weight.dtype), row, 0, student_pos.shape[0], 'max')
            weight = torch.where(has_exact[row] > 0, exact.to(weight.dtype), weight)
        num = scatter(weight.unsqueeze(1) * teacher_feats[col], row, 0, student_pos.shape[0],
                      'sum')
        den = scatter(weight, row, 0, student_pos.shape[0], 'sum')
        return num / den.unsqueeze(1)

    def forward(self, student_feats: Tensor, student_pos: Tensor, student_batch: Tensor,
                teacher_feats: Tensor, teacher_pos: Tensor, teacher_batch: Tensor) -> Tensor:
        check_point_set('student_feats', student_feats, 'student_batch', student_batch,
                        'student_pos', student_pos)
        check_point_set('teacher_feats', teacher_feats, 'teacher_batch', teacher_batch,
                        'teacher_pos', teacher_pos)
        if student_feats.shape[1] != teacher_feats.shape[1]:
            raise InvalidValueError(f'student_feats has {student_feats.shape[1]} channels but '
                                    f'teacher_feats has {teacher_feats.shape[1]}; they must match '
                                    '(add a connector, e.g. LinearConnector, on the student side)')
        if student_pos.shape[1] != teacher_pos.shape[1]:
            raise InvalidValueError('student_pos and teacher_pos must have the same number of '
                                    f'coordinates, got shapes {tuple(student_pos.shape)} and '
                                    f'{tuple(teacher_pos.shape)}')
        if student_feats.shape[0] == 0:
            raise InvalidValueError('student_feats is empty: no student points to distil')
        num_clouds = int(student_batch.max()) + 1
        teacher_counts = torch.bincount(teacher_batch.long(), minlength=num_clouds)
        empty = torch.unique(student_batch[teacher_counts[student_batch.long()] == 0])
        if empty.numel():
            raise InvalidValueError(f'student_batch has points in clouds {empty.tolist()} where '
                                    'teacher_batch has none, so teacher_feats cannot be '
                                    'interpolated there')
        target = self.interpolate(student_pos, student_batch.long(), teacher_feats, teacher_pos,
                                  teacher_batch.long())
        if self.normalize:
            student_feats = F.normalize(student_feats, p=2, dim=1)
            target = F.normalize(target, p=2, dim=1)
        return F.mse_loss(student_feats, target.to(student_feats.dtype), reduction='mean')
