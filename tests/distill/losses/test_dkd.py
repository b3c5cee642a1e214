"""Golden-value tests for DKDLoss (Zhao et al., CVPR 2022), reference written from the paper."""
import math

import pytest
import torch

from conftest import assert_gradient_reaches_student_only, randn
from mmkd.registry import LOSSES


def labels_for(n, c, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(c, (n, ), generator=g)


def kl(p, q):
    return sum(p[k] * math.log(p[k] / q[k]) for k in range(len(p)))


def reference_terms(student, teacher, labels, T):
    """Per-batch (TCKD, NCKD), each T^2 * mean over samples, from the paper's definitions."""
    tckd = nckd = 0.0
    n, c = student.shape
    for i in range(n):
        y = labels[i]
        dists = []
        for z in (student[i] / T, teacher[i] / T):
            e = [math.exp(v) for v in z]
            p_target = e[y] / sum(e)
            binary = [p_target, 1.0 - p_target]
            others = [e[j] for j in range(c) if j != y]
            nontarget = [v / sum(others) for v in others]
            dists.append((binary, nontarget))
        (b_s, nt_s), (b_t, nt_t) = dists
        tckd += kl(b_t, b_s)
        nckd += kl(nt_t, nt_s)
    return T ** 2 * tckd / n, T ** 2 * nckd / n


def test_golden_value_default_config():
    s, t = randn(6, 5, seed=1) * 2, randn(6, 5, seed=2) * 2
    y = labels_for(6, 5, seed=3)
    loss = LOSSES.build(dict(type='DKDLoss'))(s, t, y)  # alpha=1, beta=8, T=4
    tckd, nckd = reference_terms(s.numpy(), t.numpy(), y.tolist(), 4.0)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(1.0 * tckd + 8.0 * nckd, rel=1e-10)


@pytest.mark.parametrize('alpha,beta', [(1.0, 0.0), (0.0, 1.0), (0.5, 3.0)])
def test_each_term_separately(alpha, beta):
    T = 2.0
    s, t = randn(5, 7, seed=4) * 3, randn(5, 7, seed=5) * 3
    y = labels_for(5, 7, seed=6)
    loss = LOSSES.build(dict(type='DKDLoss', alpha=alpha, beta=beta, temperature=T))(s, t, y)
    tckd, nckd = reference_terms(s.numpy(), t.numpy(), y.tolist(), T)
    assert loss.item() == pytest.approx(alpha * tckd + beta * nckd, rel=1e-10)


def test_reformulation_of_kd_for_one_sample():
    # Paper, Eq. (7): KD = TCKD + (1 - p_target^teacher) * NCKD (per sample).
    T = 3.0
    s, t = randn(1, 6, seed=7), randn(1, 6, seed=8)
    y = torch.tensor([2])
    tckd = LOSSES.build(dict(type='DKDLoss', alpha=1.0, beta=0.0, temperature=T))(s, t, y)
    nckd = LOSSES.build(dict(type='DKDLoss', alpha=0.0, beta=1.0, temperature=T))(s, t, y)
    kd = LOSSES.build(dict(type='KDLoss', temperature=T))(s, t)
    p_t_target = torch.softmax(t / T, dim=1)[0, 2]
    torch.testing.assert_close(kd, tckd + (1 - p_t_target) * nckd, rtol=1e-10, atol=1e-12)


def test_identical_inputs_give_zero():
    s = randn(4, 5, seed=9)
    loss = LOSSES.build(dict(type='DKDLoss'))(s, s.clone(), labels_for(4, 5, seed=10))
    assert loss.item() == pytest.approx(0, abs=1e-12)


def test_dense_logits_with_dense_labels():
    T = 4.0
    s, t = randn(2, 4, 3, 2, seed=11), randn(2, 4, 3, 2, seed=12)
    g = torch.Generator().manual_seed(13)
    y = torch.randint(4, (2, 3, 2), generator=g)
    loss = LOSSES.build(dict(type='DKDLoss', temperature=T))(s, t, y)
    flat = lambda x: x.permute(0, 2, 3, 1).reshape(-1, 4).numpy()  # noqa: E731
    tckd, nckd = reference_terms(flat(s), flat(t), y.reshape(-1).tolist(), T)
    assert loss.item() == pytest.approx(tckd + 8.0 * nckd, rel=1e-10)


def test_large_logits_stay_finite():
    s = randn(4, 5, seed=14) * 200
    t = randn(4, 5, seed=15) * 200
    loss = LOSSES.build(dict(type='DKDLoss', temperature=1.0))(s.float(), t.float(),
                                                               labels_for(4, 5, seed=16))
    assert torch.isfinite(loss)


def test_gradient_reaches_student_only():
    assert_gradient_reaches_student_only(LOSSES.build(dict(type='DKDLoss')), randn(3, 4, seed=17),
                                         randn(3, 4, seed=18), torch.tensor([0, 3, 1]))


def test_bad_labels_raise():
    loss = LOSSES.build(dict(type='DKDLoss'))
    s, t = randn(3, 4, seed=19), randn(3, 4, seed=20)
    with pytest.raises(ValueError, match=r'labels must lie in \[0, 4\)'):
        loss(s, t, torch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match=r'labels must lie in \[0, 4\)'):
        loss(s, t, torch.tensor([0, -1, 1]))
    with pytest.raises(ValueError, match=r'labels must have shape \(3,\)'):
        loss(s, t, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='labels must be an integer tensor'):
        loss(s, t, torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match='student_logits must have shape'):
        loss(s[:, :1], t[:, :1], torch.tensor([0, 0, 0]))
