"""Golden-value tests for CRDLoss (Tian et al., ICLR 2020), reference written from the paper's
NCE objective with the official constant-Z estimate and memory update."""
import math

import pytest
import torch

from conftest import randn
from mmkd.registry import LOSSES

NUM_DATA, EMBED, K, T, MOMENTUM, EPS = 10, 3, 3, 0.5, 0.3, 1e-7


def build():
    crd = LOSSES.build(dict(type='CRDLoss', student_channels=6, teacher_channels=5,
                            num_data=NUM_DATA, embed_dim=EMBED, num_negatives=K,
                            temperature=T, momentum=MOMENTUM)).double()
    with torch.no_grad():  # fixed, seeded parameters and memory banks
        crd.embed_student.weight.copy_(randn(EMBED, 6, seed=101))
        crd.embed_student.bias.copy_(randn(EMBED, seed=102))
        crd.embed_teacher.weight.copy_(randn(EMBED, 5, seed=103))
        crd.embed_teacher.bias.copy_(randn(EMBED, seed=104))
        crd.memory_student.copy_(randn(NUM_DATA, EMBED, seed=105) / math.sqrt(EMBED))
        crd.memory_teacher.copy_(randn(NUM_DATA, EMBED, seed=106) / math.sqrt(EMBED))
    return crd


def unit(v):
    n = math.sqrt(sum(a * a for a in v))
    return [a / n for a in v]


def embed(x, linear):
    w, b = linear.weight.tolist(), linear.bias.tolist()
    return [unit([sum(w[o][c] * row[c] for c in range(len(row))) + b[o]
                  for o in range(len(w))]) for row in x.flatten(1).tolist()]


def raw_scores(e, memory, idx):
    return [[math.exp(sum(a * b for a, b in zip(e[i], memory[j])) / T) for j in idx[i]]
            for i in range(len(e))]


def nce(scores, z):
    """-(sum_i log h(P_i0) + sum_{i,k>=1} log(1 - h(P_ik))) / N, P = score / Z, noise = K / n."""
    noise = K / NUM_DATA
    total = 0.0
    for row in scores:
        p = [v / z for v in row]
        total += math.log(p[0] / (p[0] + noise + EPS))
        total += sum(math.log(noise / (q + noise + EPS)) for q in p[1:])
    return -total / len(scores)


def reference_step(crd, s, t, sample_idx, contrast_idx, z_s=None, z_t=None):
    """Loss, the Z constants and the updated memory banks, from plain Python lists."""
    e_s, e_t = embed(s, crd.embed_student), embed(t, crd.embed_teacher)
    mem_s, mem_t = crd.memory_student.tolist(), crd.memory_teacher.tolist()
    idx = contrast_idx.tolist()
    sc_s = raw_scores(e_s, mem_t, idx)  # student embedding against teacher memory
    sc_t = raw_scores(e_t, mem_s, idx)  # teacher embedding against student memory
    count = len(idx) * (K + 1)
    if z_s is None:
        z_s = sum(map(sum, sc_s)) / count * NUM_DATA
        z_t = sum(map(sum, sc_t)) / count * NUM_DATA
    loss = nce(sc_s, z_s) + nce(sc_t, z_t)
    for i, j in enumerate(sample_idx.tolist()):
        mem_s[j] = unit([MOMENTUM * m + (1 - MOMENTUM) * e for m, e in zip(mem_s[j], e_s[i])])
        mem_t[j] = unit([MOMENTUM * m + (1 - MOMENTUM) * e for m, e in zip(mem_t[j], e_t[i])])
    return loss, z_s, z_t, mem_s, mem_t


def test_golden_value_z_and_memory_update():
    crd = build()
    s, t = randn(4, 3, 2, 1, seed=1), randn(4, 5, seed=2)
    sample_idx = torch.tensor([7, 2, 5, 0])
    contrast_idx = torch.tensor([[7, 1, 1, 9], [2, 0, 8, 3], [5, 5, 4, 6], [0, 7, 2, 9]])
    loss_ref, z_s, z_t, mem_s, mem_t = reference_step(crd, s, t, sample_idx, contrast_idx)

    loss = crd(s, t, sample_idx, contrast_idx)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(loss_ref, rel=1e-10)
    assert crd.z_student.item() == pytest.approx(z_s, rel=1e-10)
    assert crd.z_teacher.item() == pytest.approx(z_t, rel=1e-10)
    torch.testing.assert_close(crd.memory_student, torch.tensor(mem_s, dtype=torch.float64))
    torch.testing.assert_close(crd.memory_teacher, torch.tensor(mem_t, dtype=torch.float64))

    # Second step: Z stays fixed at the first estimate, the updated memory is used.
    s2, t2 = randn(4, 6, seed=3), randn(4, 5, seed=4)
    sample_idx2 = torch.tensor([1, 3, 7, 8])
    contrast_idx2 = torch.tensor([[1, 0, 2, 7], [3, 5, 5, 5], [7, 9, 8, 1], [8, 2, 7, 3]])
    loss_ref2, *_ = reference_step(crd, s2, t2, sample_idx2, contrast_idx2, z_s, z_t)
    assert crd(s2, t2, sample_idx2, contrast_idx2).item() == pytest.approx(loss_ref2, rel=1e-10)
    assert crd.z_student.item() == pytest.approx(z_s, rel=1e-10)
    assert crd.z_teacher.item() == pytest.approx(z_t, rel=1e-10)


def test_initial_state():
    crd = LOSSES.build(dict(type='CRDLoss', student_channels=4, teacher_channels=6,
                            num_data=20, embed_dim=12))
    assert crd.shape_pairs == ()
    assert crd.memory_student.shape == crd.memory_teacher.shape == (20, 12)
    stdv = 1 / math.sqrt(12 / 3)
    for memory in (crd.memory_student, crd.memory_teacher):
        assert memory.abs().max() <= stdv and memory.std() > 0.2 * stdv
    assert not torch.equal(crd.memory_student, crd.memory_teacher)
    assert crd.z_student.item() == crd.z_teacher.item() == -1
    assert set(dict(crd.named_buffers())) == {'memory_student', 'memory_teacher', 'z_student',
                                              'z_teacher'}


def test_gradients_and_no_grad_memory():
    crd = build()
    s = randn(4, 6, seed=5).requires_grad_()
    t = randn(4, 5, seed=6).requires_grad_()
    crd(s, t, torch.tensor([0, 1, 2, 3]),
        torch.tensor([[0, 4, 5, 6], [1, 7, 8, 9], [2, 4, 6, 8], [3, 5, 7, 9]])).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None
    for p in crd.parameters():  # both embeddings are trained
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert not crd.memory_student.requires_grad and not crd.memory_teacher.requires_grad


def test_random_negatives_update_only_batch_rows():
    crd = build()
    before_s, before_t = crd.memory_student.clone(), crd.memory_teacher.clone()
    torch.manual_seed(0)
    loss = crd(randn(3, 6, seed=7), randn(3, 5, seed=8), torch.tensor([4, 9, 1]))
    assert torch.isfinite(loss) and loss > 0
    changed = [4, 9, 1]
    kept = [i for i in range(NUM_DATA) if i not in changed]
    for before, after in ((before_s, crd.memory_student), (before_t, crd.memory_teacher)):
        assert torch.equal(before[kept], after[kept])
        assert not torch.isclose(before[changed], after[changed]).all(dim=1).any()
        torch.testing.assert_close(after[changed].norm(dim=1),
                                   torch.ones(3, dtype=torch.float64))


def test_bad_indices_raise():
    crd = build()
    s, t = randn(2, 6), randn(2, 5)
    with pytest.raises(ValueError, match=r'sample_idx must lie in \[0, num_data\) = \[0, 10\)'):
        crd(s, t, torch.tensor([3, 10]))
    with pytest.raises(ValueError, match=r'sample_idx must lie in \[0, num_data\)'):
        crd(s, t, torch.tensor([-1, 3]))
    with pytest.raises(ValueError, match=r'sample_idx must have shape \(2,\)'):
        crd(s, t, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r'contrast_idx must have shape \(2, 4\)'):
        crd(s, t, torch.tensor([1, 2]), torch.tensor([[1, 2, 3], [2, 3, 4]]))
    with pytest.raises(ValueError, match=r'contrast_idx must lie in \[0, num_data\)'):
        crd(s, t, torch.tensor([1, 2]), torch.tensor([[1, 2, 3, 11], [2, 3, 4, 5]]))
    with pytest.raises(ValueError, match='student_feats flattens to 7 values'):
        crd(randn(2, 7), t, torch.tensor([1, 2]))


def test_shared_negatives_equal_per_sample_contrast_sets_that_share_their_negatives():
    per_sample, shared = build(), build()
    shared.shared_negatives = True
    s, t, sample_idx = randn(4, 6, seed=9), randn(4, 5, seed=10), torch.tensor([2, 5, 6, 0])
    for step in range(2):  # the first call sets Z, the second uses it and the updated memory
        torch.manual_seed(step)
        negatives = torch.randint(NUM_DATA, (K, ))
        contrast_idx = torch.cat([sample_idx[:, None], negatives.expand(4, K)], dim=1)
        torch.manual_seed(step)  # the shared loss draws the same negatives
        assert shared(s, t, sample_idx).item() == pytest.approx(
            per_sample(s, t, sample_idx, contrast_idx).item(), rel=1e-12)
        for name in ('memory_student', 'memory_teacher', 'z_student', 'z_teacher'):
            torch.testing.assert_close(getattr(shared, name), getattr(per_sample, name))
