"""Golden-value tests for MultiTeacherKDLoss (averaged softened teacher outputs)."""
import math

import pytest
import torch

from conftest import assert_gradient_reaches_student_only, randn
from mmkd.registry import LOSSES


def softmax(v):
    e = [math.exp(a) for a in v]
    return [a / sum(e) for a in e]


def reference(student, teachers, weights, T):
    """T^2 * mean_i sum_c q_ic log(q_ic / p_ic), q = sum_m w_m softmax(t_m / T) / sum_m w_m."""
    s = student.tolist()
    ts = [t.tolist() for t in teachers]
    total = 0.0
    for i in range(len(s)):
        p = softmax([v / T for v in s[i]])
        q = [0.0] * len(p)
        for w, t in zip(weights, ts):
            for c, v in enumerate(softmax([a / T for a in t[i]])):
                q[c] += w / sum(weights) * v
        total += sum(q[c] * math.log(q[c] / p[c]) for c in range(len(p)))
    return T ** 2 * total / len(s)


def inputs():
    return randn(5, 6, seed=1) * 2, [randn(5, 6, seed=s) * 2 for s in (2, 3, 4)]


def test_golden_value_uniform():
    s, ts = inputs()
    loss = LOSSES.build(dict(type='MultiTeacherKDLoss'))(s, ts)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(reference(s, ts, [1, 1, 1], 4.0), rel=1e-10)


def test_golden_value_weighted_unnormalised():
    s, ts = inputs()
    loss = LOSSES.build(dict(type='MultiTeacherKDLoss', temperature=2.0,
                             teacher_weights=[2.0, 1.0, 5.0]))(s, tuple(ts))
    assert loss.item() == pytest.approx(reference(s, ts, [2, 1, 5], 2.0), rel=1e-10)
    # Averaging probabilities, not logits: differs from KD on the averaged logits.
    kd_on_mean_logits = LOSSES.build(dict(type='KDLoss', temperature=2.0))(
        s, (2 * ts[0] + ts[1] + 5 * ts[2]) / 8)
    assert not torch.isclose(loss, kd_on_mean_logits)


def test_reduces_to_kd():
    s, ts = inputs()
    kd = LOSSES.build(dict(type='KDLoss', temperature=3.0))(s, ts[1])
    single = LOSSES.build(dict(type='MultiTeacherKDLoss', temperature=3.0))(s, [ts[1]])
    zero_weights = LOSSES.build(dict(type='MultiTeacherKDLoss', temperature=3.0,
                                     teacher_weights=[0, 1, 0]))(s, ts)
    torch.testing.assert_close(single, kd, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(zero_weights, kd, rtol=1e-12, atol=1e-12)


def test_gradient_reaches_student_only():
    assert_gradient_reaches_student_only(LOSSES.build(dict(type='MultiTeacherKDLoss')),
                                         randn(3, 4, seed=5),
                                         [randn(3, 4, seed=6), randn(3, 4, seed=7)])


def test_errors():
    s, ts = inputs()
    loss = LOSSES.build(dict(type='MultiTeacherKDLoss', teacher_weights=[1.0, 2.0]))
    assert loss.shape_pairs == ()
    with pytest.raises(ValueError, match='got 2 teacher_weights but 3 teacher_logits tensors'):
        loss(s, ts)
    with pytest.raises(ValueError, match=r'student_logits has shape \(5, 6\) but '
                                         r'teacher_logits\[1\] has shape \(5, 4\)'):
        LOSSES.build(dict(type='MultiTeacherKDLoss'))(s, [ts[0], randn(5, 4), ts[2]])
    with pytest.raises(ValueError, match='teacher_logits must be a non-empty list or tuple'):
        LOSSES.build(dict(type='MultiTeacherKDLoss'))(s, ts[0])
    with pytest.raises(ValueError, match='teacher_logits must be a non-empty list or tuple'):
        LOSSES.build(dict(type='MultiTeacherKDLoss'))(s, [])
    with pytest.raises(ValueError, match='teacher_weights must be non-negative'):
        LOSSES.build(dict(type='MultiTeacherKDLoss', teacher_weights=[1.0, -1.0]))
