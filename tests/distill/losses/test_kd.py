"""Golden-value tests for KDLoss (Hinton et al. 2015), reference written from the paper."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import assert_gradient_reaches_student_only, randn
from mmkd.registry import LOSSES


def softmax(v):
    e = np.exp(v - np.max(v))
    return e / e.sum()


def reference_kd(student, teacher, T):
    """T^2 * mean over samples of sum_c p_t[c] * log(p_t[c] / p_s[c]), [N, C] numpy arrays."""
    total = 0.0
    for i in range(student.shape[0]):
        p_s = softmax(student[i] / T)
        p_t = softmax(teacher[i] / T)
        total += sum(p_t[c] * math.log(p_t[c] / p_s[c]) for c in range(student.shape[1]))
    return T ** 2 * total / student.shape[0]


@pytest.mark.parametrize('T', [1.0, 4.0])
def test_golden_value(T):
    s, t = randn(6, 5, seed=1) * 3, randn(6, 5, seed=2) * 3
    loss = LOSSES.build(dict(type='KDLoss', temperature=T))(s, t)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(reference_kd(s.numpy(), t.numpy(), T), rel=1e-10)


def test_two_class_by_hand():
    # p_s = [1/2, 1/2], p_t = [3/4, 1/4]: KL = 3/4 ln(3/2) + 1/4 ln(1/2).
    kl = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    s = torch.zeros(1, 2, dtype=torch.float64)
    t = torch.tensor([[math.log(3.0), 0.0]], dtype=torch.float64)
    assert LOSSES.build(dict(type='KDLoss', temperature=1.0))(s, t).item() == pytest.approx(kl)
    # Same softened distributions at T = 2 (teacher logits doubled): the loss gains T^2 = 4.
    loss_t2 = LOSSES.build(dict(type='KDLoss', temperature=2.0))(s, 2 * t)
    assert loss_t2.item() == pytest.approx(4 * kl)


def test_identical_inputs_give_zero():
    s = randn(4, 7, seed=3)
    assert LOSSES.build(dict(type='KDLoss'))(s, s.clone()).item() == pytest.approx(0, abs=1e-12)


def test_batchmean_not_elementwise_mean():
    T = 4.0
    s, t = randn(5, 10, seed=4), randn(5, 10, seed=5)
    loss = LOSSES.build(dict(type='KDLoss', temperature=T))(s, t)
    log_p_s, p_t = F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1)
    batchmean = F.kl_div(log_p_s, p_t, reduction='batchmean') * T ** 2
    elementwise = (p_t * (p_t.log() - log_p_s)).mean() * T ** 2  # divides by N * C
    torch.testing.assert_close(loss, batchmean, rtol=1e-10, atol=1e-12)
    assert not torch.isclose(loss, elementwise)


def test_dense_logits_average_over_pixels():
    T = 2.0
    s, t = randn(2, 4, 3, 2, seed=6), randn(2, 4, 3, 2, seed=7)
    loss = LOSSES.build(dict(type='KDLoss', temperature=T))(s, t)
    # Every pixel is one sample of 4 classes.
    flat_s = s.permute(0, 2, 3, 1).reshape(-1, 4).numpy()
    flat_t = t.permute(0, 2, 3, 1).reshape(-1, 4).numpy()
    assert loss.item() == pytest.approx(reference_kd(flat_s, flat_t, T), rel=1e-10)


def test_gradient_reaches_student_only():
    assert_gradient_reaches_student_only(LOSSES.build(dict(type='KDLoss')), randn(3, 4, seed=8),
                                         randn(3, 4, seed=9))
