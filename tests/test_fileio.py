"""mmkd.fileio: atomic writes, the atomic_local backend and weights_only loading."""
import io
import os
import os.path as osp
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.logging import HistoryBuffer

from conftest import REPO
from mmkd import fileio
from mmkd.fileio import (AtomicLocalBackend, allow_mmengine_checkpoint_types,
                         atomic_torch_save, load_state_dict_file, load_weights)

STUDENT_CONFIG = osp.join(REPO, 'configs', 'digits', 'cnn_student_digits.py')

# Set by ``_record_call`` if an unpickled checkpoint ever managed to call it.
CALLS = []


def _record_call(*args):
    CALLS.append(args)
    return 'executed'


class NotAllowListed:
    """A plain custom class: pickled by reference to this module, so not weights_only-safe."""

    def __init__(self, value=1):
        self.value = value


class CallsAFunction:
    """Unpickles as ``_record_call('pwned')``: what a malicious checkpoint would do."""

    def __reduce__(self):
        return (_record_call, ('pwned',))


class GetAttr:
    """Unpickles as ``getattr(obj, name)``, the form HistoryBuffer's statistics take."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return (getattr, (self.obj, self.name))


def listing(folder):
    return sorted(os.listdir(folder))


@pytest.fixture
def isolated_safe_globals():
    """Start with no user allow-list and restore torch's global allow-list afterwards."""
    saved = list(torch.serialization.get_safe_globals())
    torch.serialization.clear_safe_globals()
    try:
        yield
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(saved)


# ---------------------------------------------------------------------------- atomic writes


def test_atomic_torch_save_round_trip(tmp_path):
    path = tmp_path / 'a.pth'
    atomic_torch_save({'w': torch.arange(6.0).reshape(2, 3)}, path)
    assert listing(tmp_path) == ['a.pth']
    loaded = torch.load(path, weights_only=True)
    torch.testing.assert_close(loaded['w'], torch.arange(6.0).reshape(2, 3))


def test_failed_pickle_keeps_previous_file_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / 'model.pth'
    atomic_torch_save({'w': torch.ones(4)}, path)
    before = path.read_bytes()
    # Pickling reaches the tensor, then fails on the lambda.
    bad = {'w': torch.zeros(1000), 'fn': lambda: None}
    with pytest.raises(Exception):
        atomic_torch_save(bad, path)
    assert path.read_bytes() == before
    assert listing(tmp_path) == ['model.pth']


def test_failed_write_removes_temp_file_and_keeps_previous_file(tmp_path, monkeypatch):
    """A failure after the temporary file is written (here: in the rename) cleans up."""
    path = tmp_path / 'model.pth'
    atomic_torch_save({'w': torch.ones(4)}, path)
    before = path.read_bytes()

    def failing_replace(src, dst):
        assert osp.isfile(src) and osp.basename(src).endswith('.tmp')
        raise OSError('disk full')

    monkeypatch.setattr(fileio.os, 'replace', failing_replace)
    with pytest.raises(OSError, match='disk full'):
        atomic_torch_save({'w': torch.zeros(4)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert listing(tmp_path) == ['model.pth']


def test_atomic_local_backend_put_and_put_text_round_trip(tmp_path):
    backend = get_file_backend(backend_args=dict(backend='atomic_local'))
    assert isinstance(backend, AtomicLocalBackend)

    data_path = tmp_path / 'sub' / 'blob.bin'          # parent folder created on demand
    backend.put(b'\x00first\xff', data_path)
    assert backend.get(data_path) == b'\x00first\xff'
    backend.put(b'second', data_path)                   # overwrite
    assert backend.get(data_path) == b'second'

    text_path = tmp_path / 'last_checkpoint'
    backend.put_text('/some/where/épоch_2.pth', text_path)
    assert backend.get_text(text_path) == '/some/where/épоch_2.pth'
    backend.put_text('epoch_3.pth', text_path)
    assert backend.get_text(text_path) == 'epoch_3.pth'

    assert listing(tmp_path) == ['last_checkpoint', 'sub']
    assert listing(tmp_path / 'sub') == ['blob.bin']


# ---------------------------------------------------------------------------- safe loading


def test_load_state_dict_file_missing_path(tmp_path):
    missing = str(tmp_path / 'nope' / 'teacher.pth')
    with pytest.raises(FileNotFoundError, match='model.teachers.t.checkpoint') as info:
        load_state_dict_file(missing, 'model.teachers.t.checkpoint')
    assert missing in str(info.value)


@pytest.mark.parametrize('payload', [NotAllowListed(3), CallsAFunction()],
                         ids=['custom-class', 'reduce-to-function'])
def test_checkpoint_with_non_allow_listed_global_is_refused(tmp_path, payload):
    path = str(tmp_path / 'stranger.pth')
    torch.save({'state_dict': {'w': torch.ones(2)}, 'extra': payload}, path)
    CALLS.clear()
    with pytest.raises(RuntimeError, match='weights_only=True') as info:
        load_state_dict_file(path, 'model.teachers.t.checkpoint')
    assert path in str(info.value)
    assert 'model.teachers.t.checkpoint' in str(info.value)
    assert __name__ in str(info.value)      # torch names the refused global
    assert CALLS == [], 'the checkpoint ran code while being loaded'


def test_load_state_dict_file_prefix_and_weights(tmp_path):
    from mmkd.classification import ConvClassifier
    student = ConvClassifier(channels=(4, 8))
    path = str(tmp_path / 'distill.pth')
    torch.save({'state_dict': {f'student.{k}': v for k, v in student.state_dict().items()}},
               path)
    state_dict = load_state_dict_file(path, 'where', prefix='student.')
    assert list(state_dict) == list(student.state_dict())
    other = ConvClassifier(channels=(4, 8))
    load_weights(other, path, 'where', prefix='student.')
    for k, v in student.state_dict().items():
        torch.testing.assert_close(other.state_dict()[k], v, atol=0, rtol=0)
    with pytest.raises(KeyError, match="hint: set prefix='student.'"):
        load_weights(ConvClassifier(channels=(4, 8)), path, 'where')


@pytest.fixture(scope='module')
def real_checkpoint(tmp_path_factory):
    """An MMEngine checkpoint written by a real short run of the digits student: epoch 2, so
    that its message hub also holds the validation metrics of epoch 1."""
    work_dir = tmp_path_factory.mktemp('short_run')
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'), STUDENT_CONFIG,
         '--work-dir', str(work_dir), '--cfg-options', 'train_dataloader.dataset.num_samples=128',
         'train_cfg.max_epochs=2', 'train_cfg.val_interval=1'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    tail = '\n'.join(proc.stderr.splitlines()[-40:])
    assert proc.returncode == 0, f'training exited with {proc.returncode}:\n{tail}'
    path = work_dir / 'epoch_2.pth'
    assert path.is_file(), listing(work_dir)
    assert not [f for f in listing(work_dir) if f.endswith('.tmp')], listing(work_dir)
    return str(path)


def test_real_checkpoint_needs_and_loads_with_the_allow_list(real_checkpoint,
                                                             isolated_safe_globals):
    # Without the allow-list, weights_only refuses MMEngine's message hub ...
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        torch.load(real_checkpoint, map_location='cpu', weights_only=True)
    # ... and this call is what makes it load.
    allow_mmengine_checkpoint_types()
    allow_mmengine_checkpoint_types()                   # idempotent
    checkpoint = torch.load(real_checkpoint, map_location='cpu', weights_only=True)
    assert checkpoint['meta']['epoch'] == 2
    assert {'state_dict', 'optimizer', 'message_hub', 'param_schedulers'} <= set(checkpoint)
    scalars = checkpoint['message_hub']['log_scalars']
    assert any(isinstance(v, HistoryBuffer) for v in scalars.values())
    buffer = scalars['train/loss']
    assert np.isfinite(buffer.mean()) and np.isfinite(buffer.current())
    assert 'val/accuracy/top1' in scalars
    # The weights fit the student, through the safe loader too.
    from mmkd.classification import ConvClassifier
    load_weights(ConvClassifier(channels=(4, 8), convs_per_stage=1), real_checkpoint, 'load_from')


@pytest.mark.parametrize('name', ['min', 'max', 'current', 'mean'])
def test_restricted_getattr_allows_history_buffer_statistics(tmp_path, name):
    allow_mmengine_checkpoint_types()
    buffer = io.BytesIO()
    torch.save({'f': GetAttr(HistoryBuffer, name)}, buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True)['f'] is getattr(HistoryBuffer, name)


@pytest.mark.parametrize('obj, name', [
    (HistoryBuffer, 'update'),
    (HistoryBuffer, '__init__'),
    (HistoryBuffer, '__class__'),
    (np.ndarray, 'tofile'),
    (np.ndarray, 'mean'),
    (np.dtype, '__new__'),
], ids=lambda x: x if isinstance(x, str) else x.__name__)
def test_restricted_getattr_refuses_everything_else(tmp_path, obj, name):
    allow_mmengine_checkpoint_types()
    path = str(tmp_path / 'getattr.pth')
    torch.save({'state_dict': {}, 'f': GetAttr(obj, name)}, path)
    with pytest.raises(pickle.UnpicklingError,
                       match='only HistoryBuffer statistics'):
        torch.load(path, weights_only=True)
    with pytest.raises(RuntimeError, match='only HistoryBuffer statistics') as info:
        load_state_dict_file(path, 'where')
    assert path in str(info.value)
