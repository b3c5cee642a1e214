"""Golden-value tests for RKDLoss (Park et al., CVPR 2019), reference written from the paper."""
import math

import pytest
import torch

from conftest import assert_gradient_reaches_student_only, randn
from mmkd.registry import LOSSES


def huber(x):
    return 0.5 * x * x if abs(x) < 1 else abs(x) - 0.5


def sub(a, b):
    return [u - v for u, v in zip(a, b)]


def norm(a):
    return math.sqrt(sum(u * u for u in a))


def distance_potential(x):
    n = len(x)
    d = [[norm(sub(x[i], x[j])) for j in range(n)] for i in range(n)]
    mu = sum(d[i][j] for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    return [[d[i][j] / mu for j in range(n)] for i in range(n)]


def angle_potential(x):
    """cos of the angle at vertex i between x_j and x_k; 0 when j == i or k == i."""
    n = len(x)
    out = {}
    for i in range(n):
        for j in range(n):
            for k in range(n):
                if i in (j, k):
                    out[i, j, k] = 0.0
                    continue
                u, v = sub(x[j], x[i]), sub(x[k], x[i])
                out[i, j, k] = sum(a * b for a, b in zip(u, v)) / (norm(u) * norm(v))
    return out


def reference_terms(student, teacher):
    """(distance, angle) losses; features flattened per sample; means over N^2 / N^3 entries."""
    s, t = student.flatten(1).tolist(), teacher.flatten(1).tolist()
    n = len(s)
    d_s, d_t = distance_potential(s), distance_potential(t)
    diffs_d = [d_s[i][j] - d_t[i][j] for i in range(n) for j in range(n)]
    a_s, a_t = angle_potential(s), angle_potential(t)
    diffs_a = [a_s[key] - a_t[key] for key in a_s]
    # Make sure both branches of the Huber loss are exercised by the inputs below.
    assert max(abs(v) for v in diffs_d) > 1 and max(abs(v) for v in diffs_a) > 1
    assert min(abs(v) for v in diffs_d if v != 0) < 1
    return (sum(huber(v) for v in diffs_d) / n ** 2, sum(huber(v) for v in diffs_a) / n ** 3)


def inputs():
    s = randn(5, 6, seed=1)
    s[0] *= 8  # an outlier in the student makes some normalised distance gaps exceed 1
    t = randn(5, 3, 2, 2, seed=2)
    return s, t


@pytest.mark.parametrize('w_d,w_a', [(25.0, 50.0), (1.0, 0.0), (0.0, 1.0)])
def test_golden_value(w_d, w_a):
    s, t = inputs()
    loss = LOSSES.build(dict(type='RKDLoss', distance_weight=w_d, angle_weight=w_a))(s, t)
    dist, angle = reference_terms(s, t)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(w_d * dist + w_a * angle, rel=1e-9)


def test_default_weights():
    s, t = inputs()
    dist, angle = reference_terms(s, t)
    assert LOSSES.build(dict(type='RKDLoss'))(s, t).item() == pytest.approx(
        25 * dist + 50 * angle, rel=1e-9)


def test_similarity_transform_of_student_gives_zero():
    # Relations are invariant to scale, translation, rotation and zero-padding of the features.
    s = randn(6, 4, seed=3)
    q, _ = torch.linalg.qr(randn(4, 4, seed=4))
    t = torch.cat([3.0 * s @ q + randn(1, 4, seed=5), torch.zeros(6, 2, dtype=s.dtype)], dim=1)
    assert LOSSES.build(dict(type='RKDLoss'))(s, t).item() == pytest.approx(0, abs=1e-9)


def test_gradient_reaches_student_only():
    assert_gradient_reaches_student_only(LOSSES.build(dict(type='RKDLoss')), randn(4, 5, seed=6),
                                         randn(4, 3, seed=7))


def test_bad_batches_raise():
    rkd = LOSSES.build(dict(type='RKDLoss'))
    assert rkd.shape_pairs == ()
    with pytest.raises(ValueError, match=r'same size N >= 2.*\(4, 5\) and \(3, 5\)'):
        rkd(randn(4, 5), randn(3, 5))
    with pytest.raises(ValueError, match='N >= 2'):
        rkd(randn(1, 5), randn(1, 5))
