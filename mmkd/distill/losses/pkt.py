"""PKT: Passalis and Tefas, "Learning Deep Representations with Probabilistic Knowledge
Transfer" (ECCV 2018).

Official code: https://github.com/passalis/probabilistic_kt (``nn/pkt.py``).
"""
import torch
from torch import Tensor, nn

from mmkd.registry import LOSSES
from .utils import check_same_batch


def _conditional_probabilities(x: Tensor, eps: float) -> Tensor:
    """``P[i, j] = k(x_i, x_j) / sum_j k(x_i, x_j)`` with the cosine kernel ``k = (cos + 1) / 2``.

    Rows are L2-normalised as ``x / (||x|| + eps)`` (a zero row stays zero), as in the official
    code; the self-similarity ``j == i`` is included in each row.
    """
    x = x / (x.norm(dim=1, keepdim=True) + eps)
    kernel = (x @ x.t() + 1) / 2
    return kernel / kernel.sum(dim=1, keepdim=True)


@LOSSES.register_module()
class PKTLoss(nn.Module):
    """``mean_i sum_j t_ij * log((t_ij + eps) / (s_ij + eps))`` on per-sample flattened features.

    ``t`` and ``s`` are the conditional probabilities of the teacher's and student's cosine
    kernel (see ``_conditional_probabilities``): the KL divergence between each row's teacher
    and student distributions, averaged over rows. Note the official code takes
    ``torch.mean`` over all ``N^2`` entries instead, i.e. it is this value divided by ``N``.
    Feature sizes may differ; only the batch size must match.

    Args:
        eps: added inside the log ratio and to the feature norms.
    """

    shape_pairs = ()

    def __init__(self, eps: float = 1e-7) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, student_feats: Tensor, teacher_feats: Tensor) -> Tensor:
        check_same_batch(student_feats, teacher_feats)
        s = _conditional_probabilities(student_feats.flatten(1), self.eps)
        t = _conditional_probabilities(teacher_feats.detach().flatten(1), self.eps)
        return (t * torch.log((t + self.eps) / (s + self.eps))).sum(dim=1).mean()
