"""The ``Distill`` algorithm with ConvClassifier student and teachers: offline KD, a real
``train_step``, EMA self-distillation, teacher-free self-distillation and multiple teachers."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import OptimWrapper

from conftest import REPO
from mmkd.distill import Distill
from mmkd.registry import LOSSES, MODELS

STUDENT = dict(type='ConvClassifier', channels=(4, 8))
TEACHER = dict(type='ConvClassifier', channels=(8, 16))
KD = dict(type='KDLoss', temperature=4.0,
          inputs=dict(student_logits='student.logits', teacher_logits='teacher.logits'))


def batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), dict(labels=torch.arange(n) % 10)


def data(n=8, seed=0):
    x, ds = batch(n, seed)
    return dict(inputs=x, data_samples=ds)


def kd_algo(seed=0, **kwargs):
    torch.manual_seed(seed)
    return Distill(student=STUDENT, teachers=dict(teacher=dict(model=TEACHER)),
                   distiller=dict(recorders=dict(student=dict(logits='head'),
                                                 teacher=dict(logits='head')),
                                  losses=dict(loss_kd=KD)), **kwargs)


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def params(module):
    return [p.detach().clone() for p in module.parameters()]


def optim_wrapper(model, lr=0.1):
    return OptimWrapper(torch.optim.SGD(model.parameters(), lr=lr))


def test_loss_keys_and_kd_value_match_separate_computation():
    algo = kd_algo()
    x, ds = batch()
    losses = algo.loss(x, ds)
    assert set(losses) == {'student.loss_cls', 'distill.loss_kd'}
    # The same numbers computed outside the algorithm (the student in train mode uses batch
    # statistics, so recomputing it gives the same logits; the teacher is in eval mode).
    student_logits = algo.student(x)
    teacher_logits = algo.teachers['teacher'](x)
    expected_kd = LOSSES.build(dict(type='KDLoss', temperature=4.0))(student_logits,
                                                                      teacher_logits)
    torch.testing.assert_close(losses['distill.loss_kd'], expected_kd)
    torch.testing.assert_close(losses['student.loss_cls'],
                               F.cross_entropy(student_logits, ds['labels']))
    total, log_vars = algo.parse_losses(losses)
    torch.testing.assert_close(total, losses['student.loss_cls'] + losses['distill.loss_kd'])
    assert set(log_vars) == {'loss', 'student.loss_cls', 'distill.loss_kd'}


def test_forward_loss_mode_is_loss():
    algo = kd_algo()
    x, ds = batch()
    a = algo(x, ds, mode='loss')
    b = algo.loss(x, ds)
    assert set(a) == set(b)
    for key in a:
        torch.testing.assert_close(a[key], b[key])


@pytest.mark.parametrize('weight', [0.0, 0.5])
def test_student_loss_weight(weight):
    algo = kd_algo(student_loss_weight=weight)
    x, ds = batch()
    losses = algo.loss(x, ds)
    expected = weight * F.cross_entropy(algo.student(x), ds['labels'])
    torch.testing.assert_close(losses['student.loss_cls'], expected)
    if weight == 0:
        assert losses['student.loss_cls'].item() == 0.0
    assert losses['distill.loss_kd'].item() > 0


def test_predict_and_tensor_modes_are_the_students():
    algo = kd_algo()
    algo.eval()
    x, ds = batch()
    with torch.no_grad():
        torch.testing.assert_close(algo(x, mode='tensor'), algo.student(x), rtol=0, atol=0)
        preds = algo(x, ds, mode='predict')
        own = algo.student(x, ds, mode='predict')
    assert len(preds) == len(own) == 8
    for p, q in zip(preds, own):
        torch.testing.assert_close(p['scores'], q['scores'], rtol=0, atol=0)
        assert int(p['pred_label']) == int(q['pred_label'])
        assert int(p['gt_label']) == int(q['gt_label'])
    assert algo.data_preprocessor is algo.student.data_preprocessor


def test_train_step_updates_student_and_connector_not_teacher():
    torch.manual_seed(0)
    algo = Distill(
        student=STUDENT, teachers=dict(teacher=dict(model=TEACHER)),
        distiller=dict(
            recorders=dict(student=dict(logits='head', feat='backbone'),
                           teacher=dict(logits='head', hint='backbone.stage2')),
            connectors=dict(feat_s=dict(type='ConvConnector', in_channels=8, out_channels=16)),
            losses=dict(
                loss_fitnet=dict(type='FeatureMSELoss', inputs=dict(
                    student_feats=dict(source='student.feat', connector='feat_s'),
                    teacher_feats='teacher.hint')),
                loss_kd=KD)))
    student, connector = params(algo.student), params(algo.distiller.connectors)
    teacher = snapshot(algo.teachers['teacher'])
    log_vars = algo.train_step(data(), optim_wrapper(algo))
    assert set(log_vars) == {'loss', 'student.loss_cls', 'distill.loss_kd',
                             'distill.loss_fitnet'}
    assert all(not torch.equal(a, b) for a, b in zip(student, algo.student.parameters()))
    assert all(not torch.equal(a, b)
               for a, b in zip(connector, algo.distiller.connectors.parameters()))
    for key, value in algo.teachers['teacher'].state_dict().items():
        assert torch.equal(value, teacher[key]), key        # params and BN statistics


def test_ema_teacher_follows_the_formula():
    momentum, lr = 0.9, 0.5
    torch.manual_seed(0)
    algo = Distill(student=STUDENT, teachers=dict(ema=dict(ema_of_student=True,
                                                           momentum=momentum)),
                   distiller=dict(recorders=dict(student=dict(logits='head'),
                                                 ema=dict(logits='head')),
                                  losses=dict(loss_kd=dict(KD, inputs=dict(
                                      student_logits='student.logits',
                                      teacher_logits='ema.logits')))))
    ema = algo.teachers['ema']
    assert all(not p.requires_grad for p in ema.parameters())
    assert not ema.training and algo.student.training
    wrapper = optim_wrapper(algo, lr)
    t0, s0 = params(ema), params(algo.student)
    algo.train_step(data(seed=0), wrapper)
    s1, s1_buffers = params(algo.student), [b.clone() for b in algo.student.buffers()]
    algo.train_step(data(seed=1), wrapper)
    # Each loss() first updates the EMA from the student's current weights:
    # t1 = m t0 + (1 - m) s0, t2 = m t1 + (1 - m) s1.
    for t, a, b, c in zip(ema.parameters(), t0, s0, s1):
        t1 = momentum * a + (1 - momentum) * b
        torch.testing.assert_close(t, momentum * t1 + (1 - momentum) * c)
    # Buffers are copied from the student as it was at the start of the second step.
    for t, s in zip(ema.buffers(), s1_buffers):
        assert torch.equal(t, s)
    # The student moved on; the EMA lags behind it.
    assert not torch.allclose(next(ema.parameters()), next(algo.student.parameters()))
    # No EMA update outside training.
    algo.eval()
    frozen = params(ema)
    algo.loss(*batch())
    assert all(torch.equal(a, b) for a, b in zip(frozen, ema.parameters()))


def test_self_distillation_without_teachers():
    torch.manual_seed(0)
    algo = Distill(
        student=dict(STUDENT, convs_per_stage=2), teachers=None,
        distiller=dict(
            recorders=dict(student=dict(shallow='backbone.stage2.1', deep='backbone.stage2.2')),
            connectors=dict(up=dict(type='ConvConnector', in_channels=8, out_channels=8)),
            losses=dict(loss_self=dict(type='FeatureMSELoss', loss_weight=2.0, inputs=dict(
                student_feats=dict(source='student.shallow', connector='up'),
                teacher_feats='student.deep')))))
    assert len(algo.teachers) == 0
    x, ds = batch()
    losses = algo.loss(x, ds)
    assert set(losses) == {'student.loss_cls', 'distill.loss_self'}
    # stage2 = [MaxPool2d, conv-bn-relu (shallow), conv-bn-relu (deep)]
    stage2 = algo.student.backbone.stage2
    shallow = stage2[1](stage2[0](algo.student.backbone.stage1(x)))
    deep = stage2[2](shallow)
    expected = 2.0 * F.mse_loss(algo.distiller.connectors['up'](shallow), deep)
    torch.testing.assert_close(losses['distill.loss_self'], expected)
    losses['distill.loss_self'].backward()
    assert algo.distiller.connectors['up'].conv.weight.grad is not None
    # The deep side is the target: detached, so the last block gets no gradient from it.
    assert stage2[2][0].weight.grad is None
    assert stage2[1][0].weight.grad is not None


def test_multi_teacher_fixed_weights_and_averaging():
    torch.manual_seed(0)
    algo = Distill(
        student=STUDENT,
        teachers=dict(t1=dict(model=TEACHER), t2=dict(model=dict(TEACHER, channels=(6, 12)))),
        distiller=dict(
            recorders=dict(student=dict(logits='head'), t1=dict(logits='head'),
                           t2=dict(logits='head')),
            losses=dict(
                loss_kd_t1=dict(KD, loss_weight=0.25, inputs=dict(
                    student_logits='student.logits', teacher_logits='t1.logits')),
                loss_kd_t2=dict(KD, loss_weight=0.75, inputs=dict(
                    student_logits='student.logits', teacher_logits='t2.logits')),
                loss_mt=dict(type='MultiTeacherKDLoss', temperature=2.0, inputs=dict(
                    student_logits='student.logits',
                    teacher_logits=['t1.logits', 't2.logits'])))))
    x, ds = batch()
    losses = algo.loss(x, ds)
    assert set(losses) == {'student.loss_cls', 'distill.loss_kd_t1', 'distill.loss_kd_t2',
                           'distill.loss_mt'}
    s, t1, t2 = algo.student(x), algo.teachers['t1'](x), algo.teachers['t2'](x)
    kd = LOSSES.build(dict(type='KDLoss', temperature=4.0))
    torch.testing.assert_close(losses['distill.loss_kd_t1'], 0.25 * kd(s, t1))
    torch.testing.assert_close(losses['distill.loss_kd_t2'], 0.75 * kd(s, t2))
    T = 2.0
    target = 0.5 * (t1 / T).softmax(1) + 0.5 * (t2 / T).softmax(1)
    expected = (target * (target.log() - (s / T).log_softmax(1))).sum(1).mean() * T ** 2
    torch.testing.assert_close(losses['distill.loss_mt'], expected)
    # Both teachers frozen after a real step.
    before = {n: snapshot(t) for n, t in algo.teachers.items()}
    algo.train_step(data(), optim_wrapper(algo))
    for name, teacher in algo.teachers.items():
        for key, value in teacher.state_dict().items():
            assert torch.equal(value, before[name][key])


def test_student_module_instead_of_config():
    torch.manual_seed(0)
    student = MODELS.build(STUDENT)
    algo = Distill(student=student, teachers=dict(teacher=dict(model=TEACHER)),
                   distiller=dict(recorders=dict(student=dict(logits='head'),
                                                 teacher=dict(logits='head')),
                                  losses=dict(kd=KD)))
    assert algo.student is student
    assert set(algo.loss(*batch())) == {'student.loss_cls', 'distill.loss_kd'}


def test_mlp_connector_config_regresses_the_teachers_pooled_feature():
    """configs/digits/featkd_mlp_cnn_digits.py: the student's pooled feature goes through the
    MLP connector to the teacher's; one step trains student and connector, not the teacher."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'digits', 'featkd_mlp_cnn_digits.py'))
    cfg.model.teachers.teacher.checkpoint = None       # random teacher: no training run needed
    torch.manual_seed(0)
    algo = MODELS.build(cfg.model)
    assert type(algo.distiller.connectors['feat_s']).__name__ == 'MLPConnector'
    x, samples = batch()
    with torch.no_grad():
        feat = algo.distiller.connectors['feat_s'](algo.student.pool(algo.student.backbone(x)))
        target = algo.teachers['teacher'].pool(algo.teachers['teacher'].backbone(x))
    losses = algo.loss(x, samples)
    torch.testing.assert_close(losses['distill.loss_feat'], F.mse_loss(feat, target))
    connector, teacher = params(algo.distiller.connectors), snapshot(algo.teachers['teacher'])
    algo.train_step(data(), optim_wrapper(algo))
    assert all(not torch.equal(a, b)
               for a, b in zip(connector, algo.distiller.connectors.parameters()))
    for key, value in algo.teachers['teacher'].state_dict().items():
        assert torch.equal(value, teacher[key]), key
