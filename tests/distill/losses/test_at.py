"""Golden-value tests for ATLoss (Zagoruyko & Komodakis, ICLR 2017), reference written from the
paper / official ``(at(x) - at(y)).pow(2).mean()``."""
import math

import pytest
import torch

from conftest import assert_gradient_reaches_student_only, randn
from mmkd.registry import LOSSES


def attention_map(f, p):
    """One sample [C, H, W] (nested lists) -> L2-normalised list of H * W channel means."""
    c, h, w = len(f), len(f[0]), len(f[0][0])
    a = [sum(abs(f[k][y][x]) ** p for k in range(c)) / c for y in range(h) for x in range(w)]
    norm = math.sqrt(sum(v * v for v in a))
    return [v / norm for v in a]


def reference_at(student, teacher, p):
    total, count = 0.0, 0
    for f_s, f_t in zip(student.tolist(), teacher.tolist()):
        for a_s, a_t in zip(attention_map(f_s, p), attention_map(f_t, p)):
            total += (a_s - a_t) ** 2
            count += 1
    return total / count


@pytest.mark.parametrize('p', [2, 1, 3])
def test_golden_value_with_different_channels(p):
    s, t = randn(3, 4, 5, 6, seed=1), randn(3, 7, 5, 6, seed=2)
    loss = LOSSES.build(dict(type='ATLoss', p=p))(s, t)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(reference_at(s, t, p), rel=1e-10)


def test_identical_or_rescaled_inputs_give_zero():
    s = randn(2, 3, 4, 4, seed=3)
    at = LOSSES.build(dict(type='ATLoss'))
    assert at(s, s.clone()).item() == pytest.approx(0, abs=1e-15)
    # The map is normalised per sample, and |F| ignores signs.
    assert at(s, -5.0 * s).item() == pytest.approx(0, abs=1e-15)


def test_by_hand():
    # Student energy all at pixel 0, teacher all at pixel 1 (2 pixels): a_s = [1, 0], a_t = [0, 1]
    # -> mean((a_s - a_t)^2) = (1 + 1) / 2 = 1.
    s = torch.tensor([[[[3.0, 0.0]]]])
    t = torch.tensor([[[[0.0, 2.0]], [[0.0, -1.0]]]])
    assert LOSSES.build(dict(type='ATLoss'))(s, t).item() == pytest.approx(1.0)


def test_gradient_reaches_student_only():
    assert_gradient_reaches_student_only(LOSSES.build(dict(type='ATLoss')), randn(2, 3, 4, 4, seed=4),
                                         randn(2, 5, 4, 4, seed=5))


def test_bad_shapes_raise():
    at = LOSSES.build(dict(type='ATLoss'))
    assert at.shape_pairs == ()
    with pytest.raises(ValueError, match=r'student_feats must be a feature map \[N, C, H, W\]'):
        at(randn(2, 3), randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r'teacher_feats must be a feature map \[N, C, H, W\]'):
        at(randn(2, 3, 4, 4), randn(2, 3))
    with pytest.raises(ValueError, match=r'student_feats has shape \(2, 3, 4, 4\) but '
                                         r'teacher_feats has shape \(2, 3, 8, 8\)'):
        at(randn(2, 3, 4, 4), randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r'\(2, 3, 4, 4\).*\(3, 3, 4, 4\)'):
        at(randn(2, 3, 4, 4), randn(3, 3, 4, 4))
