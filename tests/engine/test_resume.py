"""Resuming after a hard kill reproduces an uninterrupted run exactly.

Run A trains the digits student for 4 epochs without interruption. Run B trains the same config
but is SIGKILLed in the middle of epoch 3 (by ``kill_hook.KillAtIterHook``), then is resumed with
``tools/train.py --resume`` from its epoch-2 checkpoint to the end. The final weights (and the
optimizer's momentum) of A and B must be equal.
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
STUDENT_CONFIG = osp.join(REPO, 'configs', 'digits', 'cnn_student_digits.py')

NUM_SAMPLES, BATCH_SIZE, MAX_EPOCHS = 256, 64, 4
ITERS_PER_EPOCH = NUM_SAMPLES // BATCH_SIZE          # 4
KILL_AFTER_ITERS = 2 * ITERS_PER_EPOCH + 2           # 2 iterations into epoch 3
RUN_TIMEOUT = 120

# A small budget of the real student config, random shifts on: EpochSeedHook (default runtime)
# re-seeds every epoch, so the resumed run draws the same shifts as the uninterrupted one.
BASE_CONFIG = f"""
_base_ = [{STUDENT_CONFIG!r}]
train_dataloader = dict(batch_size={BATCH_SIZE}, dataset=dict(num_samples={NUM_SAMPLES}, max_shift=1))
train_cfg = dict(max_epochs={MAX_EPOCHS}, val_interval=2)
param_scheduler = [dict(type='CosineAnnealingLR', T_max={MAX_EPOCHS}, by_epoch=True,
                        convert_to_iter_based=True)]
default_hooks = dict(logger=dict(interval=1))
"""

KILL_CONFIG = f"""
_base_ = ['./base.py']
custom_imports = dict(imports=['kill_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='EpochSeedHook'),
                dict(type='KillAtIterHook', kill_after_iters={KILL_AFTER_ITERS})]
"""


def subprocess_env() -> dict:
    env = dict(os.environ)
    env['OMP_NUM_THREADS'] = '1'
    env['MKL_NUM_THREADS'] = '1'
    env['PYTHONPATH'] = os.pathsep.join(
        [HERE, REPO] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    return env


def train_cmd(config: str, work_dir: str, *extra: str) -> list:
    return [sys.executable, osp.join(REPO, 'tools', 'train.py'), config,
            '--work-dir', work_dir, *extra]


def tail(text: str, lines: int = 40) -> str:
    return '\n'.join(text.splitlines()[-lines:])


def check_ok(proc, what: str) -> None:
    assert proc.returncode == 0, (
        f'{what} exited with {proc.returncode}\n--- stderr tail ---\n{tail(proc.stderr)}'
        f'\n--- stdout tail ---\n{tail(proc.stdout)}')


def load_checkpoint(path: str) -> dict:
    allow_mmengine_checkpoint_types()
    return torch.load(path, map_location='cpu', weights_only=True)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """Run A (uninterrupted) and run B (killed, then resumed); returns their work dirs."""
    root = tmp_path_factory.mktemp('resume')
    base = root / 'base.py'
    base.write_text(BASE_CONFIG)
    kill = root / 'kill.py'
    kill.write_text(KILL_CONFIG)
    work_a, work_b = str(root / 'run_a'), str(root / 'run_b')
    env = subprocess_env()

    start = time.time()
    # A and the first half of B are independent: run them side by side (2 cores).
    popen = dict(cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc_a = subprocess.Popen(train_cmd(str(base), work_a), **popen)
    proc_b = subprocess.Popen(train_cmd(str(kill), work_b), **popen)
    results = {}
    for name, proc in (('a', proc_a), ('b_killed', proc_b)):
        try:
            stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc_a.kill()
            proc_b.kill()
            raise
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    # What the kill left behind, before the resumed run touches the work dir.
    killed_files = sorted(os.listdir(work_b))
    last_checkpoint = None
    if osp.isfile(osp.join(work_b, 'last_checkpoint')):
        with open(osp.join(work_b, 'last_checkpoint')) as f:
            last_checkpoint = f.read().strip()
    epoch_2 = osp.join(work_b, 'epoch_2.pth')
    epoch_2_bytes = open(epoch_2, 'rb').read() if osp.isfile(epoch_2) else None

    if results['b_killed'].returncode == -9 and epoch_2_bytes is not None:
        results['b_resumed'] = subprocess.run(
            train_cmd(str(base), work_b, '--resume'), cwd=REPO, env=env,
            capture_output=True, text=True, timeout=RUN_TIMEOUT)
    return dict(root=root, work_a=work_a, work_b=work_b, results=results,
                killed_files=killed_files, last_checkpoint=last_checkpoint,
                epoch_2_bytes=epoch_2_bytes, seconds=time.time() - start)


def test_uninterrupted_run_finishes(runs):
    check_ok(runs['results']['a'], 'run A (uninterrupted)')
    assert osp.isfile(osp.join(runs['work_a'], f'epoch_{MAX_EPOCHS}.pth'))


def test_killed_run_leaves_a_loadable_epoch_2_checkpoint(runs):
    killed = runs['results']['b_killed']
    assert killed.returncode == -9, (
        f'run B should have been SIGKILLed (return code -9), got {killed.returncode}\n'
        f'--- stderr tail ---\n{tail(killed.stderr)}\n--- stdout tail ---\n{tail(killed.stdout)}')
    files = runs['killed_files']
    assert 'epoch_2.pth' in files, files
    assert 'epoch_3.pth' not in files, f'killed in epoch 3, yet epoch_3.pth exists: {files}'
    leftovers = [f for f in files if f.endswith('.tmp')]
    assert not leftovers, f'temporary files left by the atomic backend: {leftovers}'
    assert runs['last_checkpoint'] is not None and \
        osp.basename(runs['last_checkpoint']) == 'epoch_2.pth', runs['last_checkpoint']

    path = str(runs['root'] / 'epoch_2_copy.pth')
    with open(path, 'wb') as f:
        f.write(runs['epoch_2_bytes'])
    checkpoint = load_checkpoint(path)
    assert checkpoint['meta']['epoch'] == 2
    assert checkpoint['meta']['iter'] == 2 * ITERS_PER_EPOCH
    assert {'state_dict', 'optimizer', 'message_hub', 'param_schedulers'} <= set(checkpoint)


def test_resumed_run_matches_uninterrupted_run(runs):
    results = runs['results']
    assert 'b_resumed' in results, 'run B was not killed as planned, see the other tests'
    resumed = results['b_resumed']
    check_ok(resumed, 'run B (resumed)')
    log = resumed.stdout + resumed.stderr
    assert 'resumed epoch: 2' in log, f'the run did not resume from epoch 2:\n{tail(log)}'
    assert 'Epoch(train) [1]' not in log, 'the resumed run trained epoch 1 again'

    final_a = load_checkpoint(osp.join(runs['work_a'], f'epoch_{MAX_EPOCHS}.pth'))
    final_b = load_checkpoint(osp.join(runs['work_b'], f'epoch_{MAX_EPOCHS}.pth'))
    for key in ('epoch', 'iter'):
        assert final_a['meta'][key] == final_b['meta'][key], key
    assert final_a['meta']['iter'] == MAX_EPOCHS * ITERS_PER_EPOCH

    state_a, state_b = final_a['state_dict'], final_b['state_dict']
    assert list(state_a) == list(state_b)
    for name in state_a:
        torch.testing.assert_close(state_b[name], state_a[name], atol=1e-6, rtol=0,
                                   msg=lambda m, name=name: f'{name}: {m}')
    # The optimizer's momentum buffers too: the resumed run restored them.
    momentum_a = final_a['optimizer']['state']
    momentum_b = final_b['optimizer']['state']
    assert sorted(momentum_a) == sorted(momentum_b) and momentum_a
    for index in momentum_a:
        torch.testing.assert_close(momentum_b[index]['momentum_buffer'],
                                   momentum_a[index]['momentum_buffer'], atol=1e-6, rtol=0)
    # And training moved the weights at all (the comparison is not trivially true).
    initial = load_checkpoint(osp.join(runs['work_a'], f'epoch_{MAX_EPOCHS - 1}.pth'))
    assert any(not torch.equal(initial['state_dict'][k], state_a[k])
               for k in state_a if state_a[k].is_floating_point())
