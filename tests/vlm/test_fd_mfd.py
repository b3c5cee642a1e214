"""Golden-value tests for FDLoss and MFDLoss (CLIP-KD feature distillation)."""
import pytest
import torch

from clip_loss_reference import D_T, embeds, unit_rows, mse
from mmkd.vlm.losses import FDLoss, MFDLoss


def reference_fd(si, st, ti, tt, wi, wt):
    return wi * mse(unit_rows(si), unit_rows(ti)) + wt * mse(unit_rows(st), unit_rows(tt))


@pytest.mark.parametrize('cls', [FDLoss, MFDLoss])
def test_fd_golden_value(cls):
    si, st, ti, tt = embeds(dim_s=D_T, seed=90)
    loss = cls(image_weight=2.0, text_weight=0.5)(si, st, ti, tt)
    assert loss.item() == pytest.approx(reference_fd(si, st, ti, tt, 2.0, 0.5), rel=1e-10)


def test_fd_by_hand():
    # Unit vectors e1 vs e2 in D = 2: element-wise mean of (1, -1)^2 -> 1 per row.
    e1 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    e2 = torch.tensor([[0.0, 3.0]], dtype=torch.float64)  # normalised to (0, 1)
    assert FDLoss(text_weight=0.0)(e1, e1, e2, e2).item() == pytest.approx(1.0)
    assert FDLoss()(e1, e1, e2, e1).item() == pytest.approx(1.0)


def test_mfd_is_fd_maths():
    si, st, ti, tt = embeds(dim_s=D_T, seed=100)
    assert issubclass(MFDLoss, FDLoss) and MFDLoss.forward is FDLoss.forward
    assert 'patch_dropout' in MFDLoss.__doc__
    torch.testing.assert_close(MFDLoss()(si, st, ti, tt), FDLoss()(si, st, ti, tt))


@pytest.mark.parametrize('cls', [FDLoss, MFDLoss])
def test_fd_zero_when_student_equals_teacher(cls):
    _, _, ti, tt = embeds(seed=110)
    # Scaled copies: equal after normalisation.
    assert cls()(3 * ti, 0.5 * tt, ti, tt).item() == pytest.approx(0, abs=1e-14)


def test_fd_text_mask_averages_the_text_term_over_the_masked_rows():
    si, st, ti, tt = embeds(dim_s=D_T, seed=120)
    mask = torch.zeros(len(st), dtype=torch.bool)
    mask[::2] = True
    loss = FDLoss(image_weight=2.0, text_weight=0.5)(si, st, ti, tt, text_mask=mask)
    expected = 2.0 * mse(unit_rows(si), unit_rows(ti)) + 0.5 * mse(unit_rows(st[mask]),
                                                                     unit_rows(tt[mask]))
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    # no captioned row: the image term alone
    none = FDLoss()(si, st, ti, tt, text_mask=torch.zeros_like(mask))
    assert none.item() == pytest.approx(mse(unit_rows(si), unit_rows(ti)), rel=1e-10)
    with pytest.raises(ValueError, match='FDLoss.text_mask: expected'):
        FDLoss()(si, st, ti, tt, text_mask=mask[:2])
