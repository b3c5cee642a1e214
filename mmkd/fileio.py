"""mmkd's file I/O, below every other layer: atomic writes (bytes, ``torch.save``, figures, the
``atomic_local`` storage backend) and safe ``weights_only`` loading of checkpoints and state dicts.

torch >= 2.6 loads with ``weights_only=True`` by default, and MMEngine 0.10.7 checkpoints pickle a
few types that are not plain tensors (its ``HistoryBuffer`` in the message hub, numpy arrays and
scalars). :func:`allow_mmengine_checkpoint_types` allow-lists exactly those, so that resuming works
while checkpoints from strangers (teachers) still cannot run code when loaded.
"""
import io
import os
import pickle
import stat
import os.path as osp
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend

from mmkd.errors import (ConfigError, InvalidValueError, MissingFileError, StateError,
                         WrongTypeError)

try:
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray


_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_statistic(obj: Any, name: str) -> Any:
    """Stands in for ``getattr`` while unpickling: MMEngine's ``HistoryBuffer`` pickles its
    statistics methods as ``getattr(HistoryBuffer, 'min')`` and so on. Only those resolve."""
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only HistoryBuffer statistics '
        f'{_HISTORY_BUFFER_STATISTICS} are allowed')


def allow_mmengine_checkpoint_types() -> None:
    """Allow-list the non-tensor types a plain MMEngine checkpoint holds (idempotent)."""
    from mmengine.logging import HistoryBuffer
    dtype_classes = [type(np.dtype(name)) for name in (
        'float64', 'float32', 'float16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool')]
    torch.serialization.add_safe_globals([
        HistoryBuffer, np.ndarray, np.dtype, *dtype_classes,
        # numpy 2 pickles these under numpy._core, numpy 1 under numpy.core
        *[(fn, f'{module}.multiarray.{fn.__name__}') for fn in (_multiarray._reconstruct,
                                                               _multiarray.scalar)
          for module in ('numpy._core', 'numpy.core')],
        (_history_buffer_statistic, 'builtins.getattr'),
    ])


def atomic_write_bytes(data: bytes, path: Union[str, Path]) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path = str(path)
    directory = osp.dirname(osp.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
    try:
        # mkstemp makes the file 0600; give it the mode a plain open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode) if osp.exists(path) else 0o666 & ~umask)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise


def remove_orphan_temporaries(directory: Union[str, Path]) -> List[str]:
    """Remove the temporary files (``.<name>.<random>.tmp``) that :func:`atomic_write_bytes`
    left in ``directory`` when a process was killed mid-write; returns their paths. Call it only
    where no other process is writing."""
    directory = str(directory)
    if not osp.isdir(directory):
        return []
    removed = []
    for name in os.listdir(directory):
        path = osp.join(directory, name)
        if name.startswith('.') and name.endswith('.tmp') and osp.isfile(path):
            os.remove(path)
            removed.append(path)
    return removed


def atomic_torch_save(obj: Any, path: Union[str, Path]) -> None:
    """``torch.save`` through a temporary file and an atomic rename."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(buffer.getvalue(), path)


def save_figure(fig: Any, path: Union[str, Path], dpi: int) -> str:
    """Render a matplotlib figure as a PNG (white background) and write it to ``path``
    atomically; returns ``path`` as a string."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=dpi, facecolor='white')
    atomic_write_bytes(buffer.getvalue(), path)
    return str(path)


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """MMEngine's local storage backend with atomic ``put`` and ``put_text``.

    Select it for checkpoints with
    ``default_hooks.checkpoint.backend_args = dict(backend='atomic_local')``: a run killed while
    saving then leaves the previous checkpoint and ``last_checkpoint`` intact.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)


class CheckpointMismatchError(ConfigError):
    """A checkpoint whose keys do not fit the model; printed as written, over several lines."""


def safe_torch_load(path: str, where: str) -> Any:
    """``torch.load`` on CPU with ``weights_only=True`` and the MMEngine allow-list; errors name
    ``where`` (the config key or argument) and the file."""
    if not osp.isfile(str(path)):
        raise MissingFileError(f'{where}: checkpoint file {str(path)!r} does not exist')
    allow_mmengine_checkpoint_types()
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:
        flat = ' '.join(str(err).split()) or type(err).__name__
        # torch's advice is many lines; what follows this marker names the refused global
        reason = flat.split('WeightsUnpickler error:', 1)[-1].strip()
        reason = reason.split(' Check the documentation of')[0][:400]
        raise StateError(f'{where}: cannot load checkpoint {path!r} with weights_only=True '
                         f'(truncated, corrupt, or holding objects it refuses): {reason}') from err


def load_checkpoint_meta(path: Union[str, Path]) -> Dict[str, Any]:
    """The ``meta`` dict of an MMEngine checkpoint (epoch, iter, ...), loaded safely."""
    checkpoint = safe_torch_load(str(path), 'checkpoint')
    return checkpoint.get('meta', {}) if isinstance(checkpoint, dict) else {}


Checkpoint = Union[str, Path, Dict[str, Any]]


def read_checkpoint(checkpoint: Checkpoint, where: str) -> Dict[str, Any]:
    """The dict a checkpoint file holds (loaded safely; a ``.safetensors`` file gives its state
    dict), or ``checkpoint`` itself when it is already a dict."""
    if isinstance(checkpoint, dict):
        return checkpoint
    path = str(checkpoint)
    if not osp.isfile(path):
        raise MissingFileError(f'{where}: checkpoint file {path!r} does not exist')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        try:
            return load_file(path)
        except Exception as err:
            raise InvalidValueError(f'{where}: cannot read safetensors file {path!r} (truncated or '
                                    f'corrupt?): {err}') from err
    loaded = safe_torch_load(path, where)
    if not isinstance(loaded, dict):
        raise WrongTypeError(f'{where}: checkpoint {path!r} holds a {type(loaded).__name__}, '
                             'expected a state dict')
    return loaded


def checkpoint_name(checkpoint: Checkpoint) -> str:
    """How errors name a checkpoint: its quoted path, or 'loaded' for a dict."""
    return 'loaded' if isinstance(checkpoint, dict) else repr(str(checkpoint))


def has_ema_weights(checkpoint: Dict[str, Any]) -> bool:
    """Whether a loaded checkpoint was written with MMEngine's ``EMAHook``."""
    return 'ema_state_dict' in checkpoint


def load_state_dict_file(checkpoint: Checkpoint, where: str, prefix: Optional[str] = None,
                         ema: Optional[bool] = None) -> Dict[str, torch.Tensor]:
    """The model weights in a checkpoint: a raw state dict, an MMEngine checkpoint
    (``'state_dict'`` key) or a ``.safetensors`` file; a path, loaded safely
    (``weights_only=True``), or a loaded dict.

    MMEngine's ``EMAHook`` saves the averaged weights as ``state_dict`` and the training weights,
    prefixed ``module.``, as ``ema_state_dict``. ``ema=None`` takes ``state_dict`` as saved (the
    averaged weights when there are any); ``True`` requires them (``KeyError`` without EMA);
    ``False`` takes the training weights. With ``prefix`` (e.g. ``'student.'`` to take the
    student out of a distillation checkpoint), only keys starting with it are kept, with the
    prefix removed. ``where`` names the config key or argument in error messages.
    """
    loaded = read_checkpoint(checkpoint, where)
    name = checkpoint_name(checkpoint)
    if ema and not has_ema_weights(loaded):
        raise ConfigError(f"{where}: checkpoint {name} has no 'ema_state_dict'; was it trained "
                          'with EMAHook?')
    if ema is False and has_ema_weights(loaded):
        state_dict = {k[len('module.'):]: v for k, v in loaded['ema_state_dict'].items()
                      if k.startswith('module.')}
    else:
        state_dict = loaded.get('state_dict', loaded)
    if prefix:
        state_dict = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
        if not state_dict:
            raise ConfigError(f'{where}: checkpoint {name} has no keys starting with {prefix!r}')
    return state_dict


def state_dict_mismatch(state_dict: Dict[str, Any], own: Dict[str, Any]) -> List[str]:
    """What keeps ``state_dict`` from loading strictly into a model whose own state dict is
    ``own``: a line each for its missing keys, unexpected keys and shape mismatches (none when
    it fits)."""
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong_shape = [f'{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}'
                   for k, v in own.items()
                   if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    # an integer tensor loaded into a float one (or the other way) is another model's, or junk
    wrong_kind = [f'{k}: checkpoint {state_dict[k].dtype} vs model {v.dtype}'
                  for k, v in own.items() if k in state_dict and torch.is_tensor(v)
                  and torch.is_tensor(state_dict[k])
                  and state_dict[k].is_floating_point() != v.is_floating_point()]
    return [f'  {len(keys)} {label}, e.g. {keys[:5]}'
            for label, keys in (('missing keys', missing), ('unexpected keys', unexpected),
                                ('shape mismatches', wrong_shape),
                                ('dtype mismatches (integer vs floating)', wrong_kind)) if keys]


def load_weights(model: torch.nn.Module, checkpoint: Checkpoint, where: str,
                 prefix: Optional[str] = None, ema: Optional[bool] = None) -> None:
    """Load a checkpoint's weights (see :func:`load_state_dict_file`) into ``model`` strictly,
    with an error that lists what does not fit."""
    state_dict = load_state_dict_file(checkpoint, where, prefix, ema)
    own = model.state_dict()
    problems = state_dict_mismatch(state_dict, own)
    if problems:
        under = f' (keys under {prefix!r})' if prefix else ''
        lines = [f'{where}: checkpoint {checkpoint_name(checkpoint)}{under} does not fit '
                 f'{type(model).__name__}:', *problems]
        hint = _prefix_hint(state_dict, own)
        if hint:
            lines.append(f'  hint: set prefix={hint!r}')
        raise CheckpointMismatchError('\n'.join(lines))
    params = dict(model.named_parameters())
    non_finite = [k for k in params if not bool(torch.isfinite(state_dict[k]).all())]
    if non_finite:
        raise InvalidValueError(f'{where}: checkpoint {checkpoint_name(checkpoint)} has non-finite '
                                f'weights: {non_finite[:5]} (a training that diverged?)')
    model.load_state_dict(state_dict, strict=True)


def _prefix_hint(state_dict: Dict[str, Any], own: Dict[str, Any]) -> Optional[str]:
    """The key prefix that, removed from the checkpoint's keys, would make them fit, if any."""
    if not own:
        return None
    first = next(iter(own))
    candidates = [key[:-len(first)] for key in state_dict if key.endswith('.' + first)]
    for prefix in candidates:  # the one under which every key of the model fits
        if all(prefix + k in state_dict and tuple(state_dict[prefix + k].shape) == tuple(v.shape)
               for k, v in own.items()):
            return prefix
    return candidates[0] if candidates else None
