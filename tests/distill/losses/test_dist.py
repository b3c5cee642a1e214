"""Golden-value tests for DISTLoss (Huang et al., NeurIPS 2022), reference written from the
paper."""
import math

import numpy as np
import pytest

from conftest import assert_gradient_reaches_student_only, randn
from mmkd.registry import LOSSES


def pearson(a, b):
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((a[k] - ma) * (b[k] - mb) for k in range(n))
    va = sum((a[k] - ma) ** 2 for k in range(n))
    vb = sum((b[k] - mb) ** 2 for k in range(n))
    return cov / math.sqrt(va * vb)


def softmax_rows(z, T):
    e = np.exp(z / T)
    return e / e.sum(axis=1, keepdims=True)


def reference_terms(student, teacher, T):
    """(inter, intra) relation losses on softmax(z / T), [N, C] numpy arrays."""
    y_s, y_t = softmax_rows(student, T), softmax_rows(teacher, T)
    n, c = y_s.shape
    inter = 1 - sum(pearson(y_s[i], y_t[i]) for i in range(n)) / n
    intra = 1 - sum(pearson(y_s[:, j], y_t[:, j]) for j in range(c)) / c
    return inter, intra


@pytest.mark.parametrize('beta,gamma,T', [(1.0, 1.0, 1.0), (2.0, 0.0, 1.0), (0.0, 1.0, 1.0),
                                          (1.0, 2.0, 4.0)])
def test_golden_value_without_eps(beta, gamma, T):
    s, t = randn(6, 5, seed=1) * 2, randn(6, 5, seed=2) * 2
    loss = LOSSES.build(dict(type='DISTLoss', beta=beta, gamma=gamma, temperature=T,
                             eps=0.0))(s, t)
    inter, intra = reference_terms(s.numpy(), t.numpy(), T)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(T ** 2 * (beta * inter + gamma * intra), rel=1e-10)


def test_golden_value_default_config():
    # Default eps = 1e-8 in the Pearson denominator only moves the value by ~1e-7 relative.
    s, t = randn(8, 10, seed=3) * 2, randn(8, 10, seed=4) * 2
    loss = LOSSES.build(dict(type='DISTLoss'))(s, t)
    inter, intra = reference_terms(s.numpy(), t.numpy(), 1.0)
    assert loss.item() == pytest.approx(inter + intra, rel=1e-5)


def test_identical_inputs_give_zero():
    s = randn(4, 6, seed=5)
    loss = LOSSES.build(dict(type='DISTLoss', temperature=2.0, eps=0.0))(s, s.clone())
    assert loss.item() == pytest.approx(0, abs=1e-12)


def test_dense_logits_are_flattened_to_samples():
    s, t = randn(2, 4, 3, 2, seed=6), randn(2, 4, 3, 2, seed=7)
    loss = LOSSES.build(dict(type='DISTLoss', eps=0.0))(s, t)
    flat = lambda x: x.permute(0, 2, 3, 1).reshape(-1, 4).numpy()  # noqa: E731
    inter, intra = reference_terms(flat(s), flat(t), 1.0)
    assert loss.item() == pytest.approx(inter + intra, rel=1e-10)


def test_gradient_reaches_student_only():
    assert_gradient_reaches_student_only(LOSSES.build(dict(type='DISTLoss')), randn(5, 4, seed=8),
                                         randn(5, 4, seed=9))


def test_one_dimensional_input_raises():
    with pytest.raises(ValueError, match='student_logits must have shape'):
        LOSSES.build(dict(type='DISTLoss'))(randn(5), randn(5))
