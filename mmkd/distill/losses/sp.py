"""SP: Tung and Mori, "Similarity-Preserving Knowledge Distillation" (ICCV 2019)."""
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.registry import LOSSES
from .utils import check_same_batch


@LOSSES.register_module()
class SPLoss(nn.Module):
    """``||G~_s - G~_t||_F^2 / N^2`` with ``G~ = row_l2_normalize(Q Q^T)``.

    ``Q`` is the ``[N, D]`` matrix of per-sample flattened features, so ``G`` is the ``N x N``
    batch similarity matrix. Feature sizes may differ; only the batch size must match.
    """

    shape_pairs = ()

    @staticmethod
    def similarity(feats: Tensor) -> Tensor:
        """Row-L2-normalised Gram matrix ``[N, N]`` of the flattened features."""
        q = feats.flatten(1)
        return F.normalize(q @ q.t(), p=2, dim=1)

    def forward(self, student_feats: Tensor, teacher_feats: Tensor) -> Tensor:
        check_same_batch(student_feats, teacher_feats)
        n = student_feats.shape[0]
        diff = self.similarity(student_feats) - self.similarity(teacher_feats.detach())
        return diff.pow(2).sum() / n ** 2
