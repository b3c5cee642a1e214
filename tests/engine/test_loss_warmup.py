"""LossWarmupHook ramps a distillation loss's weight linearly over its first epochs, in a real
MMEngine run of the digits KD config, and refuses names the distiller does not have."""
import os.path as osp

import pytest
from mmengine.hooks import Hook

from conftest import REPO
from mmkd.engine.hooks import LossWarmupHook
from mmkd.engine.runner import build_runner, load_config
from mmkd.errors import ConfigError

KD = osp.join(REPO, 'configs', 'digits', 'kd_cnn_digits.py')


class WeightRecorder(Hook):
    priority = 'LOW'  # after LossWarmupHook (NORMAL) has set the iteration's weight

    def __init__(self) -> None:
        self.weights = []

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.weights.append(runner.model.distiller.loss_weights['loss_kd'])


def kd_runner(tmp_path, warmup_losses):
    cfg = load_config(KD, work_dir=str(tmp_path), cfg_options={
        'model.teachers.teacher.checkpoint': None,
        'model.distiller.losses.loss_kd.loss_weight': 3.0,
        'train_dataloader.dataset.num_samples': 256, 'train_dataloader.batch_size': 64,
        'train_cfg.max_epochs': 3, 'train_cfg.val_interval': 10})
    cfg.custom_hooks = [dict(type='LossWarmupHook', losses=warmup_losses)]
    runner = build_runner(cfg)
    recorder = WeightRecorder()
    runner.register_hook(recorder)
    return runner, recorder


def test_weight_ramps_over_the_warmup_epochs_then_holds(tmp_path):
    runner, recorder = kd_runner(tmp_path, dict(loss_kd=1.5))
    runner.train()
    # 4 iterations per epoch, warmup 1.5 epochs = 6 iterations, then the configured 3.0
    assert recorder.weights == pytest.approx([3.0 * i / 6 for i in range(1, 7)] + [3.0] * 6)


def test_unknown_loss_name_is_refused(tmp_path):
    runner, _ = kd_runner(tmp_path, dict(loss_dkd=2))
    with pytest.raises(ConfigError, match=r"\['loss_dkd'\] are not losses of the distiller; "
                                          r"it has \['loss_kd'\]"):
        runner.train()


def test_warmup_must_be_positive():
    with pytest.raises(ConfigError, match='LossWarmupHook.losses.loss_kd: the warmup must be > 0'):
        LossWarmupHook(dict(loss_kd=0))
