"""Golden-value tests for SPLoss (Tung & Mori, ICCV 2019), reference written from the paper."""
import math

import pytest
import torch

from conftest import assert_gradient_reaches_student_only, randn
from mmkd.registry import LOSSES


def normalised_gram(x):
    """G = Q Q^T, each row divided by its L2 norm (paper, Eq. 2-3)."""
    n = len(x)
    g = [[sum(a * b for a, b in zip(x[i], x[j])) for j in range(n)] for i in range(n)]
    return [[v / math.sqrt(sum(u * u for u in row)) for v in row] for row in g]


def reference_sp(student, teacher):
    g_s = normalised_gram(student.flatten(1).tolist())
    g_t = normalised_gram(teacher.flatten(1).tolist())
    n = len(g_s)
    return sum((g_s[i][j] - g_t[i][j]) ** 2 for i in range(n) for j in range(n)) / n ** 2


def test_golden_value_with_different_feature_sizes():
    s, t = randn(5, 3, 2, 2, seed=1), randn(5, 8, 2, 1, seed=2)
    loss = LOSSES.build(dict(type='SPLoss'))(s, t)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(reference_sp(s, t), rel=1e-10)


def test_identical_or_rescaled_inputs_give_zero():
    s = randn(4, 6, seed=3)
    sp = LOSSES.build(dict(type='SPLoss'))
    assert sp(s, s.clone()).item() == pytest.approx(0, abs=1e-15)
    assert sp(s, 4.0 * s).item() == pytest.approx(0, abs=1e-15)


def test_by_hand():
    # Student: two orthogonal samples -> G~ = I. Teacher: two equal samples -> every row
    # [1, 1] / sqrt(2). ||I - G~_t||_F^2 = 2 (1 - 1/sqrt 2)^2 + 2 (1/2), divided by N^2 = 4.
    s = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    t = torch.tensor([[1.0], [1.0]], dtype=torch.float64)
    expected = (2 * (1 - 1 / math.sqrt(2)) ** 2 + 1) / 4
    assert LOSSES.build(dict(type='SPLoss'))(s, t).item() == pytest.approx(expected, rel=1e-12)


def test_gradient_reaches_student_only():
    assert_gradient_reaches_student_only(LOSSES.build(dict(type='SPLoss')), randn(4, 5, seed=4),
                                         randn(4, 3, seed=5))


def test_batch_mismatch_raises():
    sp = LOSSES.build(dict(type='SPLoss'))
    assert sp.shape_pairs == ()
    with pytest.raises(ValueError, match=r'same size N.*\(4, 5\) and \(3, 5\)'):
        sp(randn(4, 5), randn(3, 5))
