"""CLIP-KD's contrastive relational distillation (CRD): Yang, An, Huang, Bi, Yu, Yang, Diao and Xu,
"CLIP-KD: An Empirical Study of CLIP Model Distillation" (CVPR 2024).

Official code: https://github.com/winycg/CLIP-KD (``src/open_clip/loss.py``, ``KDClipLoss``:
``ckd_loss``, a ``DistillKL(T=1)`` of the in-batch logits averaged over both directions).
Named ``ClipCRDLoss`` to keep it apart from Tian et al.'s ``CRDLoss`` (memory-bank NCE for image
classifiers, ``mmkd.distill.losses.crd``), with which it shares only the name.
"""
from torch import Tensor

from mmkd.distill.losses.utils import kl_div_with_temperature
from mmkd.registry import LOSSES
from .clip_affinity import ClipAffinityLoss


@LOSSES.register_module()
class ClipCRDLoss(ClipAffinityLoss):
    """``(KL(Q_I2T || P_I2T) + KL(Q_T2I || P_T2I)) / 2`` over the in-batch contrastive
    distributions.

    ``P``, ``Q`` are the student's and the teacher's row-softmaxes of the in-batch logits, each
    model with its own (exp'd) logit scale (see ``ClipAffinityLoss``); the KL is summed over the
    ``B`` candidates and averaged over the ``B`` anchors::

        KL(Q || P) = 1/B sum_i sum_j Q_ij (log Q_ij - log P_ij)

    It is ``ClipAffinityLoss`` minus the teacher's mean entropy (a constant for the student): the
    same gradients, but 0 when the student's distributions equal the teacher's. Student and
    teacher embedding dims may differ.

    Args:
        temperature: ``None`` (default, the paper): each model's own logit scale; a number: both
            logits are ``<., .> / temperature``.
    """

    def divergence(self, student_logits: Tensor, teacher_probs: Tensor) -> Tensor:
        return kl_div_with_temperature(student_logits, teacher_probs, 1.0)
