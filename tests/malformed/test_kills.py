"""Kills at random moments (SIGKILL: during a step, a checkpoint write, a cache write) never leave
a broken file: every checkpoint and ``last_checkpoint`` on disk is whole, the temporary files of
interrupted writes are removed when the next run starts, and ``--resume`` ends with the weights
of an uninterrupted run. Real subprocesses, several kills each, at seeded random moments."""
import os
import os.path as osp
import random
import re
import signal
import subprocess
import sys
import time

import torch

from conftest import REPO
from mmkd.distill.cache import TeacherCache
from mmkd.fileio import allow_mmengine_checkpoint_types

STUDENT = osp.join(REPO, 'configs', 'digits', 'cnn_student_digits.py')
KD_CACHED = osp.join(REPO, 'configs', 'digits', 'kd_cnn_digits_cached.py')
EPOCHS, ITERS_PER_EPOCH = 6, 256 // 32
OPTIONS = ['train_dataloader.dataset.num_samples=256', 'train_dataloader.batch_size=32',
           f'train_cfg.max_epochs={EPOCHS}', f'train_cfg.val_interval={EPOCHS}',
           f'param_scheduler.0.T_max={EPOCHS}', 'default_hooks.logger.interval=1']
KILLS = 5


def env():
    return dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def start(args):
    return subprocess.Popen([sys.executable, *args], env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def kill_at_random(proc, rng, low, high):
    """SIGKILL after a random delay; None when the process finished first (its exit code)."""
    deadline = time.time() + rng.uniform(low, high)
    while time.time() < deadline:
        if proc.poll() is not None:
            return proc.returncode
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return None


def logged_iterations(work_dir, old_logs):
    """Training iterations logged by the run that wrote no log among ``old_logs``."""
    count = 0
    for log in training_logs(work_dir) - old_logs:
        with open(log) as f:
            count += f.read().count('Epoch(train)')
    return count


def training_logs(work_dir):
    if not osp.isdir(work_dir):
        return set()
    return {osp.join(work_dir, d, f'{d}.log') for d in os.listdir(work_dir)
            if osp.isfile(osp.join(work_dir, d, f'{d}.log'))}


def iterations_left(work_dir):
    """Training iterations a resumed run still has to do."""
    marker = osp.join(work_dir, 'last_checkpoint')
    named = open(marker).read().strip() if osp.isfile(marker) else ''
    match = re.search(r'epoch_(\d+)\.pth$', named)
    return (EPOCHS - (int(match.group(1)) if match else 0)) * ITERS_PER_EPOCH


def kill_after_iterations(proc, rng, work_dir, low, high):
    """SIGKILL once the run has logged a random number of iterations in [low, high] (counted
    on the clock of the run, not the wall clock, so a slow start does not move the kill before
    training); None when the process finished first (its exit code)."""
    old_logs, target = training_logs(work_dir), rng.randint(low, high)
    while logged_iterations(work_dir, old_logs) < target:
        if proc.poll() is not None:
            return proc.returncode
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.05))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return None


def assert_whole_checkpoints(work_dir):
    allow_mmengine_checkpoint_types()
    for name in os.listdir(work_dir):
        if name.endswith('.pth'):
            torch.load(osp.join(work_dir, name), map_location='cpu', weights_only=True)
    marker = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(marker):
        named = open(marker).read().strip()
        assert named and osp.isfile(named), f'last_checkpoint names {named!r}'


def orphans(directory):
    return [n for n in os.listdir(directory) if n.startswith('.') and n.endswith('.tmp')]


def final_state(work_dir):
    path = osp.join(work_dir, f'epoch_{EPOCHS}.pth')
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


def test_random_kills_then_resume_match_an_uninterrupted_run(tmp_path):
    train = osp.join(REPO, 'tools', 'train.py')
    clean = str(tmp_path / 'clean')
    proc = start([train, STUDENT, '--work-dir', clean, '--cfg-options', *OPTIONS])
    assert proc.wait(timeout=600) == 0, proc.stderr.read()[-2000:]
    killed = str(tmp_path / 'killed')
    rng = random.Random(0)
    kills, mid_training = 0, 0
    for attempt in range(40):
        resume = ['--resume'] if attempt else []
        proc = start([train, STUDENT, '--work-dir', killed, *resume, '--cfg-options', *OPTIONS])
        left = iterations_left(killed)
        if kills < KILLS and (kills == 0 or left < 4):
            code = kill_at_random(proc, rng, 0.5, 2.0)  # during the imports or the set-up
        elif kills < KILLS:
            # before the end of training, in a step or in a checkpoint write
            code = kill_after_iterations(proc, rng, killed, 3, min(20, left - 1))
        else:
            code = proc.wait(timeout=600)
        if osp.isdir(killed):
            assert_whole_checkpoints(killed)
        if code is None:
            kills += 1
            mid_training += osp.isdir(killed) and any(n.endswith('.pth')
                                                      for n in os.listdir(killed))
            continue
        assert code == 0, proc.stderr.read()[-2000:]
        if kills >= KILLS:
            break
    assert kills == KILLS and mid_training >= 2, (kills, mid_training)
    assert orphans(killed) == [], 'the last run should have removed the orphans'
    ours, theirs = final_state(killed), final_state(clean)
    assert set(ours) == set(theirs)
    for key in ours:
        assert float((ours[key].double() - theirs[key].double()).abs().max()) <= 1e-6, key


def test_random_kills_while_caching_leave_no_readable_half_cache(tmp_path):
    """A cache is readable only once its manifest is written, last; an interrupted cache write
    is redone from scratch by the next one."""
    from mmkd.engine.runner import load_config
    from mmkd.fileio import atomic_torch_save
    from mmkd.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmkd')
    teacher = str(tmp_path / 'teacher.pth')
    torch.manual_seed(0)
    cfg = load_config(KD_CACHED)
    atomic_torch_save(dict(state_dict=MODELS.build(cfg.model.teachers.teacher.model)
                           .state_dict()), teacher)
    out = str(tmp_path / 'cache')
    args = [osp.join(REPO, 'tools', 'cache_teacher.py'), KD_CACHED, '--out', out,
            '--num-augs', '16', '--shard-size-mb', '0.05', '--cfg-options',
            f'model.teachers.teacher.checkpoint={teacher}']
    rng = random.Random(1)
    for _ in range(3):
        code = kill_at_random(start(args), rng, 4.0, 8.0)
        assert code is None, 'the cache was written before the kill; use more augmentations'
        assert not osp.isfile(osp.join(out, 'manifest.json')), 'a half cache looks readable'
    proc = start(args)
    assert proc.wait(timeout=600) == 0, proc.stderr.read()[-2000:]
    cache = TeacherCache(out)
    assert cache.num_augs == 16 and orphans(out) == []
