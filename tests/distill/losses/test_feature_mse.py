"""Golden-value tests for FeatureMSELoss (FitNets hint loss, Romero et al. 2015)."""
import pytest
import torch

from conftest import randn
from mmkd.registry import LOSSES


@pytest.mark.parametrize('shape', [(4, 6), (2, 3, 4, 5)])
def test_golden_value(shape):
    s, t = randn(*shape, seed=1), randn(*shape, seed=2)
    loss = LOSSES.build(dict(type='FeatureMSELoss'))(s, t)
    flat_s, flat_t = s.reshape(-1).tolist(), t.reshape(-1).tolist()
    expected = sum((a - b) ** 2 for a, b in zip(flat_s, flat_t)) / len(flat_s)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_by_hand():
    s = torch.zeros(2, 3, 2, 2)
    t = torch.full((2, 3, 2, 2), 2.0)
    t[0, 0, 0, 0] = 4.0  # 24 elements, one of them off by 4: (23 * 4 + 16) / 24
    assert LOSSES.build(dict(type='FeatureMSELoss'))(s, t).item() == pytest.approx(108 / 24)


def test_identical_inputs_give_zero():
    s = randn(3, 4, 2, 2, seed=3)
    assert LOSSES.build(dict(type='FeatureMSELoss'))(s, s.clone()).item() == 0


def test_shape_pairs_and_mismatch_error():
    loss = LOSSES.build(dict(type='FeatureMSELoss'))
    assert loss.shape_pairs == (('student_feats', 'teacher_feats'), )
    with pytest.raises(ValueError, match=r'student_feats has shape \(2, 3\).*teacher_feats has '
                                         r'shape \(2, 4\)'):
        loss(randn(2, 3), randn(2, 4))


def test_gradient_reaches_student_only():
    s = randn(3, 4, seed=4).requires_grad_()
    t = randn(3, 4, seed=5).requires_grad_()
    LOSSES.build(dict(type='FeatureMSELoss'))(s, t).backward()
    torch.testing.assert_close(s.grad, 2 * (s - t).detach() / 12)
    assert t.grad is None


def test_normalized_embeddings_by_hand():
    """``normalize=True``: 2 (1 - cos) / C per sample, averaged; the scale of either is ignored."""
    s = torch.tensor([[3.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    t = torch.tensor([[1.0, 1.0], [0.0, 5.0]], dtype=torch.float64)
    loss = LOSSES.build(dict(type='FeatureMSELoss', normalize=True))(s, t)
    cos = 2 ** -0.5  # first row at 45 degrees, second identical in direction
    assert loss.item() == pytest.approx((2 * (1 - cos) / 2 + 0.0) / 2, rel=1e-12)
    assert LOSSES.build(dict(type='FeatureMSELoss', normalize=True))(s * 7, t).item() == \
        pytest.approx(loss.item(), rel=1e-12)
