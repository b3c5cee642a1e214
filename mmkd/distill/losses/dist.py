"""DIST: Huang, You, Wang, Qian and Xu, "Knowledge Distillation from A Stronger Teacher"
(NeurIPS 2022).

Official code: https://github.com/hunto/DIST_KD (``classification/lib/models/losses/dist_kd.py``).
"""
from torch import Tensor, nn

from mmkd.errors import InvalidValueError
from mmkd.registry import LOSSES

from .utils import check_non_negative, check_positive


def _pearson_rows(a: Tensor, b: Tensor, eps: float) -> Tensor:
    """Pearson correlation between matching rows of two ``[M, K]`` tensors, ``[M]``.

    As in the official code: the cosine similarity of the mean-centred rows with ``eps`` added to
    the product of norms (so a constant row gives correlation 0 instead of NaN).
    """
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


@LOSSES.register_module()
class DISTLoss(nn.Module):
    """``T^2 * (beta * inter + gamma * intra)`` on ``Y = softmax(z / T)``, ``[N, C]``.

        inter = 1 - mean_i pearson(Y_s[i, :], Y_t[i, :])    (per sample, over classes)
        intra = 1 - mean_c pearson(Y_s[:, c], Y_t[:, c])    (per class, over the batch)

    Dense logits ``[N, C, *]`` are treated as ``N * prod(*)`` samples of ``C`` classes.

    Args:
        beta: weight of the inter-class relation term.
        gamma: weight of the intra-class relation term.
        temperature: softening temperature T.
        eps: added to the product of norms in the Pearson correlation (official: 1e-8).
    """

    shape_pairs = (('student_logits', 'teacher_logits'),)

    def __init__(self, beta: float = 1.0, gamma: float = 1.0, temperature: float = 1.0,
                 eps: float = 1e-8) -> None:
        super().__init__()
        check_positive('DISTLoss', temperature=temperature)
        check_non_negative('DISTLoss', beta=beta, gamma=gamma)
        self.beta = beta
        self.gamma = gamma
        self.temperature = temperature
        self.eps = eps

    def forward(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        if student_logits.dim() < 2:
            raise InvalidValueError('student_logits must have shape [N, C] or [N, C, ...], got '
                                    f'{tuple(student_logits.shape)}')
        T = self.temperature
        num_classes = student_logits.shape[1]
        y_s = (student_logits / T).softmax(dim=1).movedim(1, -1).reshape(-1, num_classes)
        y_t = (teacher_logits.detach() / T).softmax(dim=1).movedim(1, -1).reshape(-1, num_classes)
        inter = 1 - _pearson_rows(y_s, y_t, self.eps).mean()
        intra = 1 - _pearson_rows(y_s.t(), y_t.t(), self.eps).mean()
        return T ** 2 * (self.beta * inter + self.gamma * intra)
