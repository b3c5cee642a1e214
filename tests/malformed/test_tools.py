"""A new user's mistakes at the command line: each ends with exit code 2 and a short message
(no traceback) that names the file or key and what was expected; ``--debug`` shows the
traceback."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from conftest import REPO

STUDENT = osp.join(REPO, 'configs', 'digits', 'cnn_student_digits.py')
KD = osp.join(REPO, 'configs', 'digits', 'kd_cnn_digits.py')
TINY = ['train_dataloader.dataset.num_samples=256', 'train_cfg.max_epochs=1']


def run(tool, *args, cwd=None):
    env = dict(os.environ, OMP_NUM_THREADS='1', MMKD_DEBUG='0')
    return subprocess.run([sys.executable, osp.join(REPO, 'tools', tool), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def assert_short_error(proc, *named):
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if 'error:' in line]
    assert errors, proc.stderr[-2000:]
    message = proc.stderr[proc.stderr.index(errors[0]):]
    for word in named:
        assert word in message, message


def test_missing_config(tmp_path):
    missing = tmp_path / 'nope.py'
    assert_short_error(run('train.py', missing), str(missing), 'does not exist')


def test_config_syntax_error_names_file_and_line(tmp_path):
    base = tmp_path / 'base.py'
    base.write_text("x = 1\nmodel = dict(type='ConvClassifier'\n")
    config = tmp_path / 'broken.py'
    config.write_text("_base_ = ['./base.py']\n")
    assert_short_error(run('train.py', config), f'{base}:2', 'syntax error')


def test_unknown_loss_type(tmp_path):
    config = tmp_path / 'kd.py'
    config.write_text(f"_base_ = [{KD!r}]\nmodel = dict(distiller=dict(losses=dict("
                      "loss_kd=dict(type='NoSuchLoss'))))\n")
    assert_short_error(run('train.py', config, '--work-dir', tmp_path / 'w', '--cfg-options',
                           'model.teachers.teacher.checkpoint=None'),
                       'model.distiller.losses.loss_kd.type', "'NoSuchLoss'")


def test_unknown_dataset_type(tmp_path):
    assert_short_error(run('train.py', STUDENT, '--work-dir', tmp_path / 'w', '--cfg-options',
                           'train_dataloader.dataset.type=NoSuchDataset'),
                       'NoSuchDataset', 'registry')


def test_missing_teacher_checkpoint(tmp_path):
    missing = tmp_path / 'teacher.pth'
    assert_short_error(run('train.py', KD, '--work-dir', tmp_path / 'w', '--cfg-options',
                           f'model.teachers.teacher.checkpoint={missing}'),
                       'model.teachers.teacher.checkpoint', str(missing))


@pytest.mark.parametrize('option,suggestion', [('train_cfg.max_epoch=1', "'max_epochs'"),
                                               ('trian_cfg.max_epochs=2', "'train_cfg'")],
                         ids=['max_epoch', 'trian_cfg'])
def test_misspelt_option_names_the_closest_key(tmp_path, option, suggestion):
    assert_short_error(run('train.py', STUDENT, '--work-dir', tmp_path / 'w', '--cfg-options',
                           option), option.split('=')[0], suggestion)


def test_misspelt_loop_key_in_a_config(tmp_path):
    config = tmp_path / 'typo.py'
    config.write_text(f"_base_ = [{STUDENT!r}]\ntrain_cfg = dict(_delete_=True, by_epoch=True, "
                      "max_epoch=1)\n")
    assert_short_error(run('train.py', config, '--work-dir', tmp_path / 'w'),
                       'train_cfg.max_epoch', "'max_epochs'")


def test_corrupt_checkpoint_to_test(tmp_path):
    checkpoint = tmp_path / 'junk.pth'
    checkpoint.write_bytes(os.urandom(4096))
    assert_short_error(run('test.py', STUDENT, checkpoint, '--work-dir', tmp_path / 'w'),
                       str(checkpoint), 'cannot load checkpoint')


def test_checkpoint_of_another_model_to_test(tmp_path):
    from mmkd.registry import MODELS
    checkpoint = tmp_path / 'other.pth'
    torch.save(dict(state_dict=MODELS.build(dict(type='ConvClassifier', channels=(3,)))
                    .state_dict()), checkpoint)
    assert_short_error(run('test.py', STUDENT, checkpoint, '--work-dir', tmp_path / 'w'),
                       str(checkpoint), 'does not fit ConvClassifier', 'missing keys')


def test_debug_shows_the_traceback(tmp_path):
    missing = tmp_path / 'nope.py'
    proc = run('train.py', missing, '--debug')
    assert proc.returncode != 0 and 'Traceback' in proc.stderr and str(missing) in proc.stderr


def test_diverging_training_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    """lr 1e6: the run stops at the first non-finite loss, naming the iteration; no non-finite
    checkpoint is written, and last_checkpoint still names the last good one."""
    work_dir = tmp_path / 'w'
    good = run('train.py', STUDENT, '--work-dir', work_dir, '--cfg-options', *TINY)
    assert good.returncode == 0, good.stderr[-2000:]
    proc = run('train.py', STUDENT, '--work-dir', work_dir, '--cfg-options',
               f'load_from={work_dir / "epoch_1.pth"}',
               'train_dataloader.dataset.num_samples=256', 'train_cfg.max_epochs=3',
               'param_scheduler.0.T_max=3', 'optim_wrapper.optimizer.lr=1e6')
    assert_short_error(proc, 'training went non-finite', 'last good checkpoint', 'epoch_1.pth')
    last = (work_dir / 'last_checkpoint').read_text().strip()
    assert last.endswith('epoch_1.pth')
    for name in os.listdir(work_dir):
        if name.endswith('.pth'):
            state = torch.load(work_dir / name, weights_only=False)['state_dict']
            assert all(torch.isfinite(v).all() for v in state.values()
                       if v.is_floating_point()), name


def test_new_nested_option_is_not_taken_for_a_typo():
    from mmkd.engine.runner import load_config
    from mmkd.errors import ConfigError
    cfg = load_config(KD, cfg_options={'model.teachers.teacher.mode': 'train'})
    assert cfg.model.teachers.teacher.mode == 'train'
    with pytest.raises(ConfigError, match="did you mean 'model'"):
        load_config(KD, cfg_options={'modle.teachers.teacher.mode': 'train'})
