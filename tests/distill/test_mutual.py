"""Deep mutual learning: peers trained together, each distilled from the other."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper

from mmkd.distill import MutualLearning
from mmkd.registry import LOSSES

PEER_A = dict(type='ConvClassifier', channels=(4, 8))
PEER_B = dict(type='ConvClassifier', channels=(6, 6))
DISTILLER = dict(
    recorders=dict(a=dict(logits='head'), b=dict(logits='head')),
    losses=dict(
        loss_a_from_b=dict(type='KDLoss', temperature=1.0, inputs=dict(
            student_logits='a.logits', teacher_logits='b.logits')),
        loss_b_from_a=dict(type='KDLoss', temperature=1.0, loss_weight=0.5, inputs=dict(
            student_logits='b.logits', teacher_logits='a.logits'))))


def batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), dict(labels=torch.arange(n) % 10)


def build(**kwargs):
    torch.manual_seed(0)
    return MutualLearning(students=dict(a=PEER_A, b=PEER_B), distiller=DISTILLER, **kwargs)


def test_losses_and_values():
    algo = build()
    x, ds = batch()
    losses = algo.loss(x, ds)
    assert set(losses) == {'a.loss_cls', 'b.loss_cls', 'distill.loss_a_from_b',
                           'distill.loss_b_from_a'}
    a, b = algo.students['a'](x), algo.students['b'](x)
    kd = LOSSES.build(dict(type='KDLoss', temperature=1.0))
    torch.testing.assert_close(losses['a.loss_cls'], F.cross_entropy(a, ds['labels']))
    torch.testing.assert_close(losses['b.loss_cls'], F.cross_entropy(b, ds['labels']))
    torch.testing.assert_close(losses['distill.loss_a_from_b'], kd(a, b))
    torch.testing.assert_close(losses['distill.loss_b_from_a'], 0.5 * kd(b, a))


def test_one_train_step_changes_both_students():
    algo = build()
    before = {n: [p.detach().clone() for p in s.parameters()] for n, s in algo.students.items()}
    x, ds = batch()
    log_vars = algo.train_step(dict(inputs=x, data_samples=ds),
                               OptimWrapper(torch.optim.SGD(algo.parameters(), lr=0.1)))
    assert {'loss', 'a.loss_cls', 'b.loss_cls'} <= set(log_vars)
    for name, student in algo.students.items():
        assert all(not torch.equal(p, q) for p, q in zip(before[name], student.parameters())), \
            name


def test_distill_gradient_only_reaches_the_student_side():
    algo = build()
    losses = algo.loss(*batch())
    losses['distill.loss_a_from_b'].backward()
    assert algo.students['a'].head[1].weight.grad is not None
    assert algo.students['b'].head[1].weight.grad is None      # b's logits are the target


def test_predict_with():
    algo = build(predict_with='b')
    algo.eval()
    x, _ = batch()
    with torch.no_grad():
        torch.testing.assert_close(algo(x), algo.students['b'](x), rtol=0, atol=0)
    algo = build()
    algo.eval()
    with torch.no_grad():
        torch.testing.assert_close(algo(x), algo.students['a'](x), rtol=0, atol=0)
    with pytest.raises(KeyError, match=r"model\.predict_with: no student named 'c'; students "
                                       r"are \['a', 'b'\]"):
        build(predict_with='c')


def test_needs_two_students():
    with pytest.raises(ValueError, match=r"model\.students: mutual learning needs two or more "
                                         r"students, got \['a'\]"):
        MutualLearning(students=dict(a=PEER_A), distiller=DISTILLER)


def test_batch_name_is_reserved():
    with pytest.raises(KeyError, match=r"model\.students\.batch: 'batch' is reserved"):
        MutualLearning(students=dict(a=PEER_A, batch=PEER_B), distiller=DISTILLER)
