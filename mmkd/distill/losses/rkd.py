"""RKD: Park, Kim, Lu and Cho, "Relational Knowledge Distillation" (CVPR 2019).

Official code: https://github.com/lenscloth/RKD (``metric/loss.py``: ``RkdDistance``,
``RKdAngle``); default weights 25 / 50 as in the CRD benchmark (HobbitLong/RepDistiller).
"""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.registry import LOSSES
from .utils import check_non_negative, check_same_batch


def _pairwise_distances(x: Tensor, eps: float) -> Tensor:
    """Euclidean distances ``[N, N]`` between the rows of ``x``, zero on the diagonal.

    Squared distances are clamped at ``eps`` before the square root (finite gradients for
    coincident points), as in the official ``pdist``.
    """
    sq_norms = x.pow(2).sum(dim=1)
    sq_dist = (sq_norms[:, None] + sq_norms[None, :] - 2 * x @ x.t()).clamp(min=eps)
    eye = torch.eye(x.shape[0], dtype=torch.bool, device=x.device)
    return sq_dist.sqrt().masked_fill(eye, 0)


def _normalised_distances(x: Tensor, eps: float) -> Tensor:
    """Pairwise distances divided by their mean over the off-diagonal (positive) pairs."""
    dist = _pairwise_distances(x, eps)
    off_diagonal = ~torch.eye(x.shape[0], dtype=torch.bool, device=x.device)
    return dist / dist[off_diagonal].mean()


def _angles(x: Tensor) -> Tensor:
    """``[N, N, N]`` tensor of ``cos angle(x_j - x_i, x_k - x_i)`` at vertex ``i``.

    Degenerate triplets (``j == i`` or ``k == i``) have a zero difference vector, which
    ``F.normalize`` maps to zero, so their cosine is 0 for both networks, as in the official code.
    """
    diff = F.normalize(x[None, :, :] - x[:, None, :], p=2, dim=2)  # diff[i, j] = x_j - x_i
    return torch.bmm(diff, diff.transpose(1, 2))


@LOSSES.register_module()
class RKDLoss(nn.Module):
    """``distance_weight * L_D + angle_weight * L_A`` on per-sample flattened features.

        L_D = mean_{i, j} huber(psi_D(s)_ij, psi_D(t)_ij),  psi_D(x)_ij = ||x_i - x_j|| / mu(x)
        L_A = mean_{i, j, k} huber(psi_A(s)_ijk, psi_A(t)_ijk),  psi_A = cos of the angle at i

    ``mu(x)`` is the mean distance over the pairs ``i != j``; ``huber`` is smooth L1 with
    threshold 1; the means run over all ``N^2`` / ``N^3`` entries (diagonal and degenerate
    entries are 0 for both networks), as in the official code. Student and teacher feature
    sizes may differ; only the batch size must match.

    Args:
        distance_weight: weight of the distance term.
        angle_weight: weight of the angle term.
        eps: clamp of the squared distances before the square root.
    """

    shape_pairs = ()

    def __init__(self, distance_weight: float = 25.0, angle_weight: float = 50.0,
                 eps: float = 1e-12) -> None:
        super().__init__()
        check_non_negative('RKDLoss', distance_weight=distance_weight, angle_weight=angle_weight)
        self.distance_weight = distance_weight
        self.angle_weight = angle_weight
        self.eps = eps

    def forward(self, student_feats: Tensor, teacher_feats: Tensor) -> Tensor:
        check_same_batch(student_feats, teacher_feats, min_size=2)
        student = student_feats.flatten(1)
        teacher = teacher_feats.detach().flatten(1)
        loss_distance = F.smooth_l1_loss(_normalised_distances(student, self.eps),
                                         _normalised_distances(teacher, self.eps))
        loss_angle = F.smooth_l1_loss(_angles(student), _angles(teacher))
        return self.distance_weight * loss_distance + self.angle_weight * loss_angle
