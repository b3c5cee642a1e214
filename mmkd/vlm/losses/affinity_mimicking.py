"""TinyCLIP affinity mimicking: Wu et al., "TinyCLIP: CLIP Distillation via Affinity Mimicking
and Weight Inheritance" (ICCV 2023).

Official code: https://github.com/microsoft/Cream/tree/main/TinyCLIP
(``src/open_clip/clip_soft_loss.py``, ``ClipSoftLoss``).
"""
from torch import Tensor

from mmkd.registry import LOSSES
from .clip_affinity import ClipAffinityLoss
from .utils import Scale


@LOSSES.register_module()
class AffinityMimickingLoss(ClipAffinityLoss):
    """``L_I2T + L_T2I`` (paper) or their mean (official code, the default) with
    ``L_I2T = CE(A^T_I2T, A^S_I2T) = -1/B sum_i sum_j A^T_I2T[i, j] log A^S_I2T[i, j]``.

    The affinities ``A_I2T = softmax_rows(s * I T^T)``, ``A_T2I = softmax_rows(s * T I^T)`` are
    computed by each model with its own (exp'd) learnable logit scale ``s`` (TinyCLIP's
    ``1 / tau``); the teacher's affinities are the soft targets.

    Relation to ``ClipAffinityLoss`` (open_clip's ``DistillClipLoss``): it is the same loss.
    With ``average_directions=True`` (what ``ClipSoftLoss`` computes by default) it is exactly
    ``ClipAffinityLoss(temperature=None)``; with ``False`` (the paper's sum) it is twice that.
    The class therefore reuses ``ClipAffinityLoss``'s maths and only fixes the settings:
    TinyCLIP has no temperature override (both logit scales are required) and offers the sum.

    Args:
        average_directions: ``True`` (default): ``(L_I2T + L_T2I) / 2`` as the official code;
            ``False``: ``L_I2T + L_T2I`` as written in the paper.
    """

    def __init__(self, average_directions: bool = True) -> None:
        super().__init__(temperature=None)
        self.average_directions = average_directions

    def forward(self, student_image_embeds: Tensor, student_text_embeds: Tensor,
                teacher_image_embeds: Tensor, teacher_text_embeds: Tensor,
                student_logit_scale: Scale, teacher_logit_scale: Scale) -> Tensor:
        i2t, t2i = self.directional_losses(student_image_embeds, student_text_embeds,
                                           teacher_image_embeds, teacher_text_embeds,
                                           student_logit_scale, teacher_logit_scale)
        total = i2t + t2i
        return total / 2 if self.average_directions else total
