"""FitNets: Romero, Ballas, Kahou, Chassang, Gatta and Bengio, "FitNets: Hints for Thin Deep
Nets" (ICLR 2015)."""
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.registry import LOSSES
from .utils import check_same_shape


@LOSSES.register_module()
class FeatureMSELoss(nn.Module):
    """Hint loss ``mean((r(F_s) - F_t)^2)`` over every element.

    ``r`` is the connector (regressor) that maps the student's guided layer onto the teacher's
    hint layer; it is applied by the distiller, so ``student_feats`` arrive already mapped and
    must have the teacher's shape (any shape: ``[N, C]``, ``[N, C, H, W]``, ...). The paper
    writes ``1/2 * ||.||^2``; like the reference implementations (CRD's ``HintLoss``) this is the
    plain element-wise mean, and any constant goes into the distiller's weight.

    With ``normalize=True`` both are L2-normalised along dim 1 first: embedding distillation,
    where only the direction of an embedding means anything (a sentence encoder's embedding
    against a CLIP text tower's, through a connector); the loss is then ``2 (1 - cos) / C`` per
    sample, averaged.
    """

    shape_pairs = (('student_feats', 'teacher_feats'),)

    def __init__(self, normalize: bool = False) -> None:
        super().__init__()
        self.normalize = normalize

    def forward(self, student_feats: Tensor, teacher_feats: Tensor) -> Tensor:
        check_same_shape('student_feats', student_feats, 'teacher_feats', teacher_feats)
        teacher_feats = teacher_feats.detach()
        if self.normalize:
            teacher_feats = F.normalize(teacher_feats.to(student_feats.dtype), dim=1)
            student_feats = F.normalize(student_feats, dim=1)
        return F.mse_loss(student_feats, teacher_feats, reduction='mean')
