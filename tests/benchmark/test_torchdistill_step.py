"""torchdistill's KD step, as the kd-overhead benchmark runs it, is the same step as mmkd's."""
import copy

import pytest
import torch
from mmengine.optim import OptimWrapper

from mmkd.benchmark.torchdistill_step import import_torchdistill, torchdistill_kd_step
from mmkd.distill.algorithms.distill import Distill

KD = dict(loss_kd=dict(type='KDLoss', temperature=4.0, loss_weight=1.0,
                       inputs=dict(student_logits='student.logits',
                                   teacher_logits='teacher.logits')))


def test_torchdistill_step_matches_an_mmkd_kd_step():
    import_torchdistill()
    torch.manual_seed(0)
    algo = Distill(student=dict(type='ConvClassifier', channels=(4, 8)),
                   teachers=dict(teacher=dict(model=dict(type='ConvClassifier', channels=(16, 32),
                                                         convs_per_stage=2))),
                   distiller=dict(recorders=dict(student=dict(logits='head'),
                                                 teacher=dict(logits='head')), losses=KD))
    algo.train()
    teacher = copy.deepcopy(algo.teachers['teacher'])
    student = copy.deepcopy(algo.student)
    inputs, labels = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))

    step = torchdistill_kd_step(teacher, student, 'head', temperature=4.0, lr=0.1)
    td_loss = step(inputs, labels)

    optim = OptimWrapper(torch.optim.SGD(algo.student.parameters(), lr=0.1, momentum=0.9))
    losses = algo.train_step(dict(inputs=inputs, data_samples=dict(labels=labels)), optim)
    torch.testing.assert_close(td_loss, losses['loss'].detach())
    # same loss, same optimiser: the same student after the step
    for (name, p), q in zip(algo.student.named_parameters(), student.parameters()):
        torch.testing.assert_close(p, q, msg=name)
    # and the teacher was not trained
    for p, q in zip(teacher.parameters(), algo.teachers['teacher'].parameters()):
        assert torch.equal(p, q)


def test_missing_torchdistill_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__('sys').modules, 'torchdistill', None)
    with pytest.raises(ImportError, match='pip install --target .*torchdistill'):
        import_torchdistill(str(tmp_path / 'nowhere'))


def test_kd_settings_for_torchdistill_come_from_the_built_recorders():
    from mmengine.config import Config

    from mmkd.benchmark.kd_overhead import _kd_loss_settings

    def model(student_recorder):
        return dict(
            type='Distill', student=dict(type='ConvClassifier', channels=(4, 8)),
            teachers=dict(teacher=dict(model=dict(type='ConvClassifier', channels=(8, 16)))),
            distiller=dict(recorders=dict(student=dict(logits=student_recorder),
                                          teacher=dict(logits='head')), losses=KD))

    cfg = Config(dict(model=model(dict(source='head'))))
    settings = _kd_loss_settings(cfg, Distill(**{k: v for k, v in cfg.model.items()
                                                 if k != 'type'}))
    assert settings == dict(logits_module='head', temperature=4.0, loss_weight=1.0)
    cfg = Config(dict(model=model(dict(source='head', kind='input'))))
    with pytest.raises(ValueError, match=r'losses\.loss_kd\.inputs\.student_logits: expected a '
                                         r"recorder of a whole module output, got 'student"):
        _kd_loss_settings(cfg, Distill(**{k: v for k, v in cfg.model.items() if k != 'type'}))
