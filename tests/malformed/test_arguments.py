"""Loss arguments out of their domain, and a resume whose ``last_checkpoint`` was left empty: a
named error when the config is built, or the newest whole checkpoint."""
import os.path as osp

import pytest
import torch

from conftest import REPO
from mmkd.engine.runner import resume_checkpoint, train
from mmkd.errors import MMKDError
from mmkd.registry import MODELS

CASES = [('kd-temperature-negative', dict(type='KDLoss', temperature=-4.0), 'temperature'),
         ('kd-temperature-zero', dict(type='KDLoss', temperature=0.0), 'temperature'),
         ('dkd-temperature-negative', dict(type='DKDLoss', temperature=-4.0), 'temperature'),
         ('dkd-negative-beta', dict(type='DKDLoss', beta=-1.0), 'beta'),
         ('dist-temperature-zero', dict(type='DISTLoss', temperature=0.0), 'temperature'),
         ('multi-teacher-temperature-zero', dict(type='MultiTeacherKDLoss', temperature=0.0),
          'temperature'),
         ('negative-loss-weight', dict(type='KDLoss', loss_weight=-1.0), 'loss_weight')]


@pytest.mark.parametrize('case,loss,named', CASES, ids=[c[0] for c in CASES])
def test_loss_argument_out_of_domain_is_refused_when_built(case, loss, named):
    inputs = dict(student_logits='student.logits', teacher_logits='teacher.logits')
    if loss['type'] == 'DKDLoss':
        inputs['labels'] = 'batch.labels'
    with pytest.raises(MMKDError, match=named) as info:
        MODELS.build(dict(
            type='Distill', student=dict(type='ConvClassifier', channels=(4, 8)),
            teachers=dict(teacher=dict(model=dict(type='ConvClassifier', channels=(8, 16)))),
            distiller=dict(recorders=dict(student=dict(logits='head'),
                                          teacher=dict(logits='head')),
                           losses=dict(loss_x=dict(loss, inputs=inputs)))))
    assert 'model.distiller.losses.loss_x' in str(info.value)


def test_empty_last_checkpoint_resumes_from_the_newest_whole_one(tmp_path):
    work_dir = str(tmp_path / 'w')
    options = {'train_dataloader.dataset.num_samples': 128, 'train_cfg.max_epochs': 2,
               'train_cfg.val_interval': 2, 'param_scheduler.0.T_max': 2}
    config = osp.join(REPO, 'configs', 'digits', 'cnn_student_digits.py')
    train(config, work_dir=work_dir, cfg_options=options)
    open(osp.join(work_dir, 'last_checkpoint'), 'w').close()  # what a kill did to MMEngine's
    assert resume_checkpoint(work_dir) == osp.join(work_dir, 'epoch_2.pth')
    with open(osp.join(work_dir, 'epoch_2.pth'), 'r+b') as f:  # and a truncated newest one
        f.truncate(100)
    assert resume_checkpoint(work_dir) == osp.join(work_dir, 'epoch_1.pth')
    runner = train(config, work_dir=work_dir, resume='auto',
                   cfg_options=dict(options, **{'train_cfg.max_epochs': 3}))
    assert runner.epoch == 3
    assert torch.load(osp.join(work_dir, 'epoch_3.pth'), weights_only=False)['meta']['epoch'] == 3
