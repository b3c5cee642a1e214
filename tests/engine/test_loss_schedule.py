"""LossScheduleHook scales a distillation loss's weight by a piecewise-linear function of the
epoch, in a real MMEngine run of the digits KD config, and refuses bad schedules by name."""
import os.path as osp

import pytest
from mmengine.hooks import Hook

from conftest import REPO
from mmkd.engine.hooks import LossScheduleHook
from mmkd.engine.runner import build_runner, load_config
from mmkd.errors import ConfigError

KD = osp.join(REPO, 'configs', 'digits', 'kd_cnn_digits.py')


class WeightRecorder(Hook):
    priority = 'LOW'  # after LossScheduleHook (NORMAL) has set the iteration's weight

    def __init__(self) -> None:
        self.weights = []

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.weights.append(runner.model.distiller.loss_weights['loss_kd'])


def kd_runner(tmp_path, schedules):
    """The digits KD config at 4 iterations per epoch for 3 epochs, KD weight 3."""
    cfg = load_config(KD, work_dir=str(tmp_path), cfg_options={
        'model.teachers.teacher.checkpoint': None,
        'model.distiller.losses.loss_kd.loss_weight': 3.0,
        'train_dataloader.dataset.num_samples': 256, 'train_dataloader.batch_size': 64,
        'train_cfg.max_epochs': 3, 'train_cfg.val_interval': 10})
    cfg.custom_hooks = [dict(type='LossScheduleHook', losses=schedules)]
    runner = build_runner(cfg)
    recorder = WeightRecorder()
    runner.register_hook(recorder)
    return runner, recorder


def test_warmup_ramps_the_weight_in_then_holds_it(tmp_path):
    runner, recorder = kd_runner(tmp_path, dict(loss_kd=[(0, 0), (1.5, 1)]))
    runner.train()
    # warmup over 1.5 epochs = 6 iterations, then the configured 3.0
    assert recorder.weights == pytest.approx([3.0 * i / 6 for i in range(1, 7)] + [3.0] * 6)


def test_a_repeated_epoch_is_a_step(tmp_path):
    runner, recorder = kd_runner(tmp_path, dict(loss_kd=[(0, 1), (1, 1), (1, 0.5), (3, 0.5)]))
    runner.train()
    # epochs done after iteration i: i / 4; at exactly 1 epoch the later point applies
    assert recorder.weights == pytest.approx([3.0] * 3 + [1.5] * 9)


@pytest.mark.parametrize('points,expected', [
    ([(0, 1), (4, 0)], [1.0, 0.75, 0.625, 0.0]),       # linear decay, then the last factor
    ([(1, 0.5), (2, 1.0)], [0.5, 0.5, 0.75, 1.0]),     # before the first point: its factor
])
def test_factor_interpolates_between_points(points, expected):
    assert [LossScheduleHook.factor(points, e) for e in (0, 1, 1.5, 5)] == pytest.approx(expected)


def test_unknown_loss_name_is_refused(tmp_path):
    runner, _ = kd_runner(tmp_path, dict(loss_dkd=[(0, 0), (2, 1)]))
    with pytest.raises(ConfigError, match=r"\['loss_dkd'\] are not losses of the distiller; "
                                          r"it has \['loss_kd'\]"):
        runner.train()


@pytest.mark.parametrize('points,message', [
    ([(2, 1), (1, 0)], 'non-decreasing order'),
    ([(0, -1)], 'factors must be >= 0'),
    ([], 'non-decreasing order'),
    (5, 'expected a list of \\(epoch, factor\\) pairs'),
])
def test_bad_schedules_are_refused(points, message):
    with pytest.raises(ConfigError, match=f'LossScheduleHook.losses.loss_kd: .*{message}'):
        LossScheduleHook(dict(loss_kd=points))


def test_schedules_must_be_a_dict_of_losses():
    with pytest.raises(ConfigError, match=r'LossScheduleHook.losses: expected a dict of loss name'):
        LossScheduleHook([(0, 0), (2, 1)])
