"""Distributed (DDP, gloo on CPU) knowledge distillation through ``tools/dist_train.sh``.

Two processes train the digits KD config (student + frozen teacher) for two short epochs. The
``rank_dump_hook.RankDumpHook`` (loaded through ``custom_imports``) makes every rank write its
final model, the type of its model wrapper and the sample indices of its first batch; the test
checks the model was wrapped in ``MMDistributedDataParallel``, the ranks trained on different
data and still ended with the same weights (gradients were all-reduced).
"""
import os
import os.path as osp
import subprocess
import sys
import time

import pytest
import torch

from conftest import REPO
from mmkd.fileio import allow_mmengine_checkpoint_types

HERE = osp.dirname(osp.abspath(__file__))
KD_CONFIG = osp.join(REPO, 'configs', 'digits', 'kd_cnn_digits.py')
DIST_TRAIN = osp.join(REPO, 'tools', 'dist_train.sh')

WORLD_SIZE, NUM_SAMPLES, BATCH_SIZE, MAX_EPOCHS = 2, 256, 32, 2
TIMEOUT = 180

CONFIG = f"""
_base_ = [{KD_CONFIG!r}]
train_dataloader = dict(batch_size={BATCH_SIZE}, dataset=dict(num_samples={NUM_SAMPLES}))
train_cfg = dict(max_epochs={MAX_EPOCHS}, val_interval={MAX_EPOCHS})
default_hooks = dict(logger=dict(interval=1))
custom_imports = dict(imports=['rank_dump_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='RankDumpHook')]
"""


def tail(text: str, lines: int = 40) -> str:
    return '\n'.join(text.splitlines()[-lines:])


def load(path: str) -> dict:
    allow_mmengine_checkpoint_types()
    return torch.load(path, map_location='cpu', weights_only=True)


@pytest.fixture(scope='module')
def ddp_run(tmp_path_factory):
    from mmkd.classification import ConvClassifier
    root = tmp_path_factory.mktemp('ddp')
    # A randomly initialised teacher is enough to exercise distillation under DDP.
    torch.manual_seed(1234)
    teacher = ConvClassifier(channels=(32, 64, 128), convs_per_stage=2)
    teacher_path = str(root / 'teacher.pth')
    torch.save({'state_dict': teacher.state_dict()}, teacher_path)

    config = root / 'kd_ddp.py'
    config.write_text(CONFIG)
    work_dir = str(root / 'work_dir')
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHON=sys.executable)
    env.pop('PORT', None)
    env.pop('MASTER_PORT', None)                 # dist_train.sh picks a free port
    env['PYTHONPATH'] = os.pathsep.join(
        [HERE, REPO] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    cmd = ['bash', DIST_TRAIN, str(config), str(WORLD_SIZE), '--work-dir', work_dir,
           '--cfg-options', f'model.teachers.teacher.checkpoint={teacher_path}']
    start = time.time()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    return dict(proc=proc, work_dir=work_dir, teacher_path=teacher_path,
                seconds=time.time() - start)


@pytest.fixture(scope='module')
def dumps(ddp_run):
    proc = ddp_run['proc']
    assert proc.returncode == 0, (
        f'dist_train.sh exited with {proc.returncode}\n--- stderr tail ---\n{tail(proc.stderr)}'
        f'\n--- stdout tail ---\n{tail(proc.stdout)}')
    paths = [osp.join(ddp_run['work_dir'], f'rank{rank}.pth') for rank in range(WORLD_SIZE)]
    missing = [p for p in paths if not osp.isfile(p)]
    assert not missing, f'ranks did not write {missing}; work dir: ' \
                        f'{sorted(os.listdir(ddp_run["work_dir"]))}'
    return [load(p) for p in paths]


def test_run_exits_cleanly_with_one_dump_per_rank(dumps):
    assert [d['rank'] for d in dumps] == list(range(WORLD_SIZE))
    assert all(d['world_size'] == WORLD_SIZE for d in dumps)


def test_model_is_wrapped_in_mmddp(dumps):
    for d in dumps:
        assert d['wrapper'] == 'MMDistributedDataParallel', d['wrapper']
        assert 'DistributedDataParallel' in d['wrapper_mro']


def test_ranks_trained_on_different_data(dumps):
    first = [d['first_sample_idx'] for d in dumps]
    assert all(len(idx) == BATCH_SIZE for idx in first), first
    assert set(first[0]).isdisjoint(first[1]), f'both ranks saw samples {first}'
    assert all(0 <= i < NUM_SAMPLES for idx in first for i in idx)


def test_distillation_loss_was_trained(dumps):
    for d in dumps:
        assert 'distill.loss_kd' in d['first_loss_keys'], d['first_loss_keys']
        assert 'student.loss_cls' in d['first_loss_keys'], d['first_loss_keys']


def test_all_ranks_end_with_identical_weights(dumps):
    """Different data, same weights: DDP all-reduced the student's gradients.

    BatchNorm running statistics are the exception: they are updated in each rank's forward
    pass from that rank's batch, and DDP does not average them (``broadcast_buffers=False``,
    MMEngine's default kept by ``mmkd.engine.runner``; even with ``True`` the last forward
    leaves them rank-local). Checkpoints hold rank 0's. The frozen teacher's are identical.
    """
    state0, state1 = dumps[0]['state_dict'], dumps[1]['state_dict']
    assert list(state0) == list(state1)
    parameters = dumps[0]['parameter_names']
    assert parameters == dumps[1]['parameter_names']
    assert any(k.startswith('student.') for k in parameters)
    assert any(k.startswith('teachers.teacher.') for k in parameters)
    rank_local = [k for k in state0 if k.startswith('student.')
                  and k.endswith(('.running_mean', '.running_var'))]
    compared = [k for k in state0 if k not in rank_local]
    assert set(parameters) <= set(compared)
    for name in compared:
        torch.testing.assert_close(state1[name], state0[name], atol=0, rtol=0,
                                   msg=lambda m, name=name: f'{name} differs across ranks: {m}')
    for name in rank_local:
        assert torch.isfinite(state0[name]).all() and torch.isfinite(state1[name]).all(), name


def test_teacher_stays_frozen_and_checkpoint_matches_rank_0(ddp_run, dumps):
    teacher = load(ddp_run['teacher_path'])['state_dict']
    for k, v in teacher.items():
        torch.testing.assert_close(dumps[0]['state_dict'][f'teachers.teacher.{k}'], v,
                                   atol=0, rtol=0)
    final = osp.join(ddp_run['work_dir'], f'epoch_{MAX_EPOCHS}.pth')
    assert osp.isfile(final), sorted(os.listdir(ddp_run['work_dir']))
    checkpoint = load(final)
    assert checkpoint['meta']['epoch'] == MAX_EPOCHS
    iters_per_epoch = NUM_SAMPLES // (WORLD_SIZE * BATCH_SIZE)
    assert checkpoint['meta']['iter'] == MAX_EPOCHS * iters_per_epoch
    for k, v in dumps[0]['state_dict'].items():
        torch.testing.assert_close(checkpoint['state_dict'][k], v, atol=0, rtol=0)
    assert not [f for f in os.listdir(ddp_run['work_dir']) if f.endswith('.tmp')]
