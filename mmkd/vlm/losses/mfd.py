"""CLIP-KD's masked feature distillation (MFD): Yang et al., "CLIP-KD: An Empirical Study of CLIP
Model Distillation" (CVPR 2024).

Official code: https://github.com/winycg/CLIP-KD (``src/training/train.py``: the student is
called with ``mask_ratio``; ``src/open_clip/loss.py``: the same ``fd_loss`` as FD;
``script/methods/MFD.sh``: mask ratio 0.75, loss weight 2000).
"""
from mmkd.registry import LOSSES
from .fd import FDLoss


@LOSSES.register_module()
class MFDLoss(FDLoss):
    """FD where the student embedded masked images: ``w_I * mean((I_S^masked - I_T)^2) +
    w_T * mean((T_S - T_T)^2)``.

    The loss itself is ``FDLoss``'s (same arguments, same maths): what makes it MFD is the
    student's input. The masking is done by the student model, not here: the student's image
    tower drops a random fraction of its patch tokens while the teacher sees the full image, so
    the student must recover the teacher's embedding of the whole image from the visible
    patches. With open_clip ViTs that is ``vision_cfg.patch_dropout`` (e.g. 0.75, the paper's
    mask ratio) in the student's model config: ``PatchDropout`` keeps a random subset of the
    patch tokens (the class token always) and is active only in training mode, so evaluation
    uses full images. Nothing in the embeddings reveals whether they were masked, so a config
    without patch dropout on the student silently trains plain FD.

    Args:
        image_weight: weight of the (masked) image term.
        text_weight: weight of the text term (texts are not masked, as in the official code).
    """
