"""KD: Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network" (2015)."""
from torch import Tensor, nn

from mmkd.registry import LOSSES
from .utils import check_positive, kl_div_with_temperature


@LOSSES.register_module()
class KDLoss(nn.Module):
    """``T^2 * KL(softmax(t / T) || softmax(s / T))``, batchmean over samples.

    Args:
        temperature: softening temperature T.
    """

    shape_pairs = (('student_logits', 'teacher_logits'),)

    def __init__(self, temperature: float = 4.0) -> None:
        super().__init__()
        check_positive('KDLoss', temperature=temperature)
        self.temperature = temperature

    def forward(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        teacher_probs = (teacher_logits.detach() / self.temperature).softmax(dim=1)
        return kl_div_with_temperature(student_logits, teacher_probs, self.temperature)
