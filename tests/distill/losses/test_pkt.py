"""Golden-value tests for PKTLoss (Passalis & Tefas, ECCV 2018), reference written from the
paper: cosine-kernel conditional probabilities and their KL divergence."""
import math

import pytest

from conftest import assert_gradient_reaches_student_only, randn
from mmkd.registry import LOSSES


def conditional_probabilities(x):
    """p_{j|i} = K(x_i, x_j) / sum_j K(x_i, x_j), K = (cos + 1) / 2, j == i included."""
    n = len(x)
    norms = [math.sqrt(sum(v * v for v in row)) for row in x]
    k = [[(sum(a * b for a, b in zip(x[i], x[j])) / (norms[i] * norms[j]) + 1) / 2
          for j in range(n)] for i in range(n)]
    return [[k[i][j] / sum(k[i]) for j in range(n)] for i in range(n)]


def reference_pkt(student, teacher, eps):
    """mean over rows i of sum_j t_ij log((t_ij + eps) / (s_ij + eps))."""
    s = conditional_probabilities(student.flatten(1).tolist())
    t = conditional_probabilities(teacher.flatten(1).tolist())
    n = len(s)
    return sum(t[i][j] * math.log((t[i][j] + eps) / (s[i][j] + eps))
               for i in range(n) for j in range(n)) / n


def test_golden_value_exact():
    s, t = randn(6, 5, seed=1), randn(6, 2, 2, 2, seed=2)
    loss = LOSSES.build(dict(type='PKTLoss', eps=0.0))(s, t)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(reference_pkt(s, t, 0.0), rel=1e-10)


def test_golden_value_default_eps():
    # The module also adds eps to the feature norms (as the official code); that shifts the
    # value by ~1e-7 relative, far inside this tolerance but far outside a factor N error.
    s, t = randn(8, 5, seed=3), randn(8, 7, seed=4)
    loss = LOSSES.build(dict(type='PKTLoss'))(s, t)
    assert loss.item() == pytest.approx(reference_pkt(s, t, 1e-7), rel=1e-5)


def test_identical_or_rescaled_inputs_give_zero():
    s = randn(5, 4, seed=5)
    pkt = LOSSES.build(dict(type='PKTLoss'))
    assert pkt(s, s.clone()).item() == pytest.approx(0, abs=1e-12)
    assert pkt(s, 7.0 * s).item() == pytest.approx(0, abs=1e-6)


def test_gradient_reaches_student_only():
    assert_gradient_reaches_student_only(LOSSES.build(dict(type='PKTLoss')), randn(4, 5, seed=6),
                                         randn(4, 3, seed=7))


def test_batch_mismatch_raises():
    pkt = LOSSES.build(dict(type='PKTLoss'))
    assert pkt.shape_pairs == ()
    with pytest.raises(ValueError, match=r'same size N.*\(4, 5\) and \(3, 5\)'):
        pkt(randn(4, 5), randn(3, 5))
