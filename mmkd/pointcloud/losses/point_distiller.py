"""PointDistiller: Zhang, Dong, Xu, Ma and Ma, "PointDistiller: Structured Knowledge Distillation
Towards Efficient and Compact 3D Detection" (CVPR 2023), adapted to point-cloud classification.

Official code (detection): https://github.com/RunpeiDong/PointDistiller
"""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch_geometric.utils import scatter

from mmkd.errors import InvalidValueError
from mmkd.registry import LOSSES

from ..ops import fps, knn
from .point_feature import check_point_set

GRAPH_SPACES = ('feature', 'coord')


@LOSSES.register_module()
class PointDistillerLoss(nn.Module):
    """Local (graph) distillation of per-point features with teacher-driven reweighting.

    For each centre ``i`` (every point, or ``num_centers`` per cloud picked by farthest point
    sampling on ``pos`` from each cloud's first point), its ``k`` nearest points ``N(i)`` of the
    same cloud are found in the *teacher's* space: the teacher's features
    (``graph_space='feature'``, PointDistiller's dynamic graph) or ``pos`` (``'coord'``). As in
    DGCNN the centre is its own nearest neighbour. The same graph serves both sides, so the
    student is taught the teacher's neighbourhoods.

    * Student: a trainable EdgeConv connector owned by this loss (trained with the student,
      dropped at export), ``s_i = max_{j in N(i)} MLP([f^s_j - f^s_i, f^s_i])`` with
      ``MLP = Linear(2 C_s, C_t) + ReLU + Linear(C_t, C_t)``.
    * Teacher: parameter-free, ``t_i = max_{j in N(i)} f^t_j`` (``= f^t_i + max_j (f^t_j -
      f^t_i)``, the same max aggregation over the neighbourhood without weights). PointDistiller
      passes both sides through a dynamic graph conv; a *trainable* teacher-side module trained
      by an MSE to the student can shrink both outputs to zero, so only the student side learns.

    Reweighting (PointDistiller's reweighted learning: crucial points weigh more). In detection
    the weights come from the teacher's per-point predictions; for classification the crucial
    points are PointNet's "critical points", those that win the global max pool. A point's
    share is the fraction of teacher channels on which it is the maximum of its cloud (a tie
    splits the channel between the tied points). The centres' shares are divided by their mean
    within each cloud (weights of mean 1; a cloud whose centres all have share 0 gets weight 1
    everywhere). Then

        loss = sum_i w_i * mean_c (s_ic - t_ic)^2 / num_centres     (w_i = 1 without reweight)

    The teacher's features, the graph and the weights get no gradient.

    The graph lives on the teacher's points. Without ``student_pos`` the student must hold the
    *same points* in the same order (PointNet ``encoder`` or DGCNN ``edge_convs.<i>`` on the
    same input, PointNet++ ``sa_out`` with the same ``ratios``: FPS is deterministic); a mapped
    ``student_batch`` is checked against ``batch``. With ``student_pos`` and ``student_batch``
    the point sets may differ: each teacher point takes the features of its nearest student
    point of the same cloud (e.g. a PointNet student keeps every input point and a PointNet++
    teacher a subset of them, so the match is exact).

    Args:
        student_channels: ``C_s`` of ``student_feats`` (the raw student feature, no connector).
        teacher_channels: ``C_t`` of ``teacher_feats``.
        k: neighbours per centre, the centre included (a cloud with fewer points uses all).
        num_centers: centres per cloud picked by FPS on ``pos`` (bounds the cost on large
            clouds); ``None``: every point is a centre.
        graph_space: ``'feature'`` (kNN on teacher features) or ``'coord'`` (kNN on ``pos``).
        reweight: weight the centres by their teacher share (see above).

    Wiring with PointNet (coordinates: the ``encoder`` input when ``in_channels=0``; cloud
    indices: the second input of ``pool``)::

        recorders=dict(
            student=dict(feat='encoder', batch=dict(source='pool', kind='input', index=1)),
            teacher=dict(feat='encoder', pos=dict(source='encoder', kind='input'),
                         batch=dict(source='pool', kind='input', index=1))),
        losses=dict(loss_pd=dict(
            type='PointDistillerLoss', student_channels=128, teacher_channels=512, k=8,
            num_centers=256, inputs=dict(student_feats='student.feat',
                                         teacher_feats='teacher.feat', batch='teacher.batch',
                                         pos='teacher.pos', student_batch='student.batch')))

    With PointNet++ (same ``ratios`` on both sides): ``feat='sa_out'``, ``pos='sa_pos'``,
    ``batch='sa_batch'`` on both models, and optionally ``student_pos='student.pos'``.
    """

    shape_pairs = ()

    def __init__(self, student_channels: int, teacher_channels: int, k: int = 8,
                 num_centers: Optional[int] = None, graph_space: str = 'feature',
                 reweight: bool = True) -> None:
        super().__init__()
        for name, value in (('student_channels', student_channels),
                            ('teacher_channels', teacher_channels), ('k', k)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidValueError(f'{name} must be an int >= 1, got {value!r}')
        if num_centers is not None and (isinstance(num_centers, bool) or
                                        not isinstance(num_centers, int) or num_centers < 1):
            raise InvalidValueError(f'num_centers must be None or an int >= 1, got {num_centers!r}')
        if graph_space not in GRAPH_SPACES:
            raise InvalidValueError(f'graph_space must be one of {GRAPH_SPACES}, got '
                                    f'{graph_space!r}')
        self.student_channels = student_channels
        self.teacher_channels = teacher_channels
        self.k = k
        self.num_centers = num_centers
        self.graph_space = graph_space
        self.reweight = reweight
        self.edge_mlp = nn.Sequential(nn.Linear(2 * student_channels, teacher_channels),
                                      nn.ReLU(inplace=True),
                                      nn.Linear(teacher_channels, teacher_channels))

    def sample_centers(self, pos: Optional[Tensor], batch: Tensor) -> Tensor:
        """Indices of the centres, grouped by cloud: all points, or the first ``num_centers``
        FPS picks of each cloud (fewer in a smaller cloud)."""
        if self.num_centers is None:
            return torch.arange(batch.numel(), device=batch.device)
        counts = torch.bincount(batch)
        # FPS picks are a prefix-stable sequence (from each cloud's first point): asking every
        # cloud for at least num_centers and truncating gives exactly num_centers FPS picks.
        ratio = min(1.0, self.num_centers / int(counts[counts > 0].min()))
        idx = fps(pos.detach(), batch, ratio=ratio, random_start=False)
        cloud = batch[idx]
        picked = torch.bincount(cloud, minlength=counts.numel())
        rank = torch.arange(idx.numel(), device=idx.device) - (picked.cumsum(0) - picked)[cloud]
        return idx[rank < self.num_centers]

    @staticmethod
    def align(student_feats: Tensor, student_pos: Tensor, student_batch: Tensor, pos: Tensor,
              batch: Tensor) -> Tensor:
        """The student's features at the teacher's points: those of the nearest student point
        of the same cloud, ``[N_teacher, C_s]``."""
        missing = torch.unique(batch[torch.bincount(student_batch, minlength=int(batch.max()) + 1)
                                     [batch] == 0])
        if missing.numel():
            raise InvalidValueError(f'batch has points in clouds {missing.tolist()} where '
                                    'student_batch has none, so no student point matches them')
        dtype = torch.promote_types(student_pos.dtype, pos.dtype)
        row, col = knn(student_pos.detach().to(dtype), pos.detach().to(dtype), 1,
                       student_batch, batch)
        return student_feats[col[torch.argsort(row)]]

    def build_graph(self, space: Tensor, batch: Tensor, centers: Tensor) -> Tuple[Tensor, Tensor]:
        """``(row, col)``: centre ``centers[row]`` has neighbour ``col`` (indices of points)."""
        space = space.detach()
        row, col = knn(space, space[centers], self.k, batch, batch[centers])
        return row, col

    @staticmethod
    def point_shares(teacher_feats: Tensor, batch: Tensor) -> Tensor:
        """Per point, the fraction of channels on which it is its cloud's maximum, ``[N]``."""
        num_clouds = int(batch.max()) + 1
        cloud_max = scatter(teacher_feats, batch, 0, num_clouds, 'max')
        is_max = (teacher_feats == cloud_max[batch]).to(teacher_feats.dtype)
        ties = scatter(is_max, batch, 0, num_clouds, 'sum')
        return (is_max / ties[batch]).sum(1) / teacher_feats.shape[1]

    def center_weights(self, teacher_feats: Tensor, batch: Tensor, centers: Tensor) -> Tensor:
        """Reweighting of the centres, mean 1 within each cloud, ``[num_centres]``."""
        weight = self.point_shares(teacher_feats, batch)[centers]
        cloud = batch[centers]
        mean = scatter(weight, cloud, 0, int(batch.max()) + 1, 'mean')[cloud]
        return torch.where(mean > 0, weight / mean.clamp(min=torch.finfo(mean.dtype).tiny),
                           torch.ones_like(weight))

    def forward(self, student_feats: Tensor, teacher_feats: Tensor, batch: Tensor,
                pos: Optional[Tensor] = None, student_batch: Optional[Tensor] = None,
                student_pos: Optional[Tensor] = None) -> Tensor:
        check_point_set('teacher_feats', teacher_feats, 'batch', batch, 'pos', pos)
        if student_pos is not None:
            if pos is None or student_batch is None:
                raise InvalidValueError('student_pos needs pos and student_batch too: the student '
                                        "points are matched to the teacher's by coordinates")
            check_point_set('student_feats', student_feats, 'student_batch', student_batch,
                            'student_pos', student_pos)
            student_feats = self.align(student_feats, student_pos, student_batch.long(), pos,
                                       batch.long())
            student_batch = None
        if not torch.is_tensor(student_feats) or student_feats.dim() != 2 \
                or student_feats.shape[0] != teacher_feats.shape[0]:
            got = (tuple(student_feats.shape) if torch.is_tensor(student_feats)
                   else type(student_feats).__name__)
            raise InvalidValueError(f'student_feats {got} and teacher_feats '
                                    f'{tuple(teacher_feats.shape)} must be [N, C] over the same N '
                                    'points (same input points, or PointNet++ with the same '
                                    'ratios)')
        if student_feats.shape[1] != self.student_channels:
            raise InvalidValueError(f'student_feats has {student_feats.shape[1]} channels but the '
                                    f'loss was built with student_channels={self.student_channels}')
        if teacher_feats.shape[1] != self.teacher_channels:
            raise InvalidValueError(f'teacher_feats has {teacher_feats.shape[1]} channels but the '
                                    f'loss was built with teacher_channels={self.teacher_channels}')
        if student_batch is not None and (student_batch.shape != batch.shape or
                                          not torch.equal(student_batch.long(), batch.long())):
            raise InvalidValueError('student_batch differs from batch: student_feats and '
                                    'teacher_feats do not hold the same points')
        if pos is None and (self.graph_space == 'coord' or self.num_centers is not None):
            need = "graph_space='coord'" if self.graph_space == 'coord' else 'num_centers'
            raise InvalidValueError(f'pos (the points\' coordinates) is required with {need}')
        if student_feats.shape[0] == 0:
            raise InvalidValueError('student_feats and teacher_feats are empty: no points to '
                                    'distil')
        batch = batch.long()
        teacher_feats = teacher_feats.detach().to(student_feats.dtype)

        centers = self.sample_centers(pos, batch)
        space = teacher_feats if self.graph_space == 'feature' else pos
        row, col = self.build_graph(space, batch, centers)
        num = centers.numel()

        centre_feats = student_feats[centers][row]
        edges = torch.cat([student_feats[col] - centre_feats, centre_feats], dim=1)
        student_local = scatter(self.edge_mlp(edges), row, 0, num, 'max')
        teacher_local = scatter(teacher_feats[col], row, 0, num, 'max')

        error = (student_local - teacher_local).pow(2).mean(1)
        if not self.reweight:
            return error.mean()
        return (self.center_weights(teacher_feats, batch, centers) * error).sum() / num
