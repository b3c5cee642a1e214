"""Multi-teacher KD by averaging the teachers' softened outputs, e.g. You, Xu, Xu and Tao,
"Learning from Multiple Teacher Networks" (KDD 2017), built on Hinton et al. (2015)."""
from typing import Optional, Sequence

from torch import Tensor, nn

from mmkd.errors import InvalidValueError
from mmkd.registry import LOSSES
from .utils import check_positive, check_same_shape, kl_div_with_temperature


@LOSSES.register_module()
class MultiTeacherKDLoss(nn.Module):
    """``T^2 * KL(sum_m w_m softmax(t_m / T) || softmax(s / T))``, batchmean over samples.

    The target is the weighted average of the teachers' softened probabilities, with the weights
    normalised to sum to 1 (uniform when ``teacher_weights`` is None).

    Args:
        temperature: softening temperature T.
        teacher_weights: one non-negative weight per teacher, or None for uniform.
    """

    # Every teacher tensor is checked against ``student_logits`` in ``forward``.
    shape_pairs = ()

    def __init__(self, temperature: float = 4.0,
                 teacher_weights: Optional[Sequence[float]] = None) -> None:
        super().__init__()
        check_positive('MultiTeacherKDLoss', temperature=temperature)
        self.temperature = temperature
        if teacher_weights is not None:
            teacher_weights = [float(w) for w in teacher_weights]
            if any(w < 0 for w in teacher_weights) or sum(teacher_weights) <= 0:
                raise InvalidValueError('teacher_weights must be non-negative with a positive '
                                        f'sum, got {teacher_weights}')
        self.teacher_weights = teacher_weights

    def forward(self, student_logits: Tensor, teacher_logits: Sequence[Tensor]) -> Tensor:
        if isinstance(teacher_logits, Tensor) or len(teacher_logits) == 0:
            raise InvalidValueError('teacher_logits must be a non-empty list or tuple of tensors, '
                                    'one per teacher, each shaped like student_logits')
        num_teachers = len(teacher_logits)
        weights = self.teacher_weights
        if weights is None:
            weights = [1.0] * num_teachers
        if len(weights) != num_teachers:
            raise InvalidValueError(f'got {len(weights)} teacher_weights but {num_teachers} '
                                    'teacher_logits tensors; give one weight per teacher')
        for i, logits in enumerate(teacher_logits):
            check_same_shape('student_logits', student_logits, f'teacher_logits[{i}]', logits)

        total = sum(weights)
        T = self.temperature
        target = sum(w / total * (t.detach() / T).softmax(dim=1)
                     for w, t in zip(weights, teacher_logits))
        return kl_div_with_temperature(student_logits, target, T)
