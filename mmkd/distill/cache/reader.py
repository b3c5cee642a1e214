"""Reading a cache: the manifest checked against the config's key, then per batch the teacher
recordings of the replayed augmentations, rebuilt to the shapes the distiller recorded."""
import bisect
import hashlib
import json
import os.path as osp
from typing import Any, Dict, List

import torch
from torch import Tensor

from mmkd.errors import ConfigError, OutOfRangeError
from .key import (FORMAT_VERSION, MANIFEST, REBUILD_HINT, TeacherCacheError,
                  TeacherCacheMismatchError, canonical_json, file_sha256, key_differences)

# ----------------------------------------------------------------------------- reading
def _dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


def batch_index(batch_size: int, rows: int, dtype: torch.dtype,
                 device: Any = 'cpu') -> Tensor:
    return torch.arange(batch_size, device=device).repeat_interleave(rows).to(dtype)


class TeacherCache:
    """A cache directory opened for reading. Opening checks that every file has the size the
    manifest gives; a shard's sha256 is checked the first time it is read in a process."""

    def __init__(self, path: str) -> None:
        self.path = str(path)
        manifest_path = osp.join(self.path, MANIFEST)
        if not osp.isfile(manifest_path):
            raise TeacherCacheError(
                f'teacher cache {self.path!r} has no {MANIFEST} (missing, or the cache tool did '
                f'not finish); ' + REBUILD_HINT.format(path=self.path))
        with open(manifest_path) as f:
            manifest = json.load(f)
        if manifest.get('format') != FORMAT_VERSION:
            raise TeacherCacheError(f'{manifest_path}: format {manifest.get("format")!r}, this '
                                    f'mmkd reads {FORMAT_VERSION}; '
                                    + REBUILD_HINT.format(path=self.path))
        self.key: Dict[str, Any] = manifest['key']
        self.num_samples: int = manifest['num_samples']
        self.num_augs: int = manifest['num_augs']
        self.seed: int = manifest['seed']
        self.recordings: Dict[str, dict] = manifest['recordings']
        self.shards: List[dict] = manifest['shards']
        self._starts = [shard['start'] for shard in self.shards]
        self.per_sample_keys = [k for k, v in self.recordings.items() if v['kind'] == 'per_sample']
        for entry in self.shards + ([manifest['shared']] if manifest['shared'] else []):
            self._check_size(entry)
        self.shared: Dict[str, Tensor] = {}
        if manifest['shared']:
            from safetensors.torch import load
            self.shared = load(self._verified_bytes(manifest['shared']))
        self._handles: Dict[int, Any] = {}
        self._tensors: Dict[int, Dict[str, Tensor]] = {}

    def _file(self, entry: dict) -> str:
        return osp.join(self.path, entry['file'])

    def _check_size(self, entry: dict) -> None:
        path = self._file(entry)
        if not osp.isfile(path):
            raise TeacherCacheError(f'teacher cache file {path!r} is missing; '
                                    + REBUILD_HINT.format(path=self.path))
        size = osp.getsize(path)
        if size != entry['bytes']:
            raise TeacherCacheError(
                f'teacher cache file {path!r} is {size} bytes, the manifest says '
                f'{entry["bytes"]}: truncated or overwritten; '
                + REBUILD_HINT.format(path=self.path))

    def _check_hash(self, entry: dict, digest: str) -> None:
        if digest != entry['sha256']:
            raise TeacherCacheError(
                f'teacher cache file {self._file(entry)!r} is corrupt (its sha256 is not the '
                f"manifest's); " + REBUILD_HINT.format(path=self.path))

    def _verified_bytes(self, entry: dict) -> bytes:
        with open(self._file(entry), 'rb') as f:
            data = f.read()
        self._check_hash(entry, hashlib.sha256(data).hexdigest())
        return data

    def _shard(self, shard: int) -> Any:
        if shard not in self._handles:
            from safetensors import safe_open
            entry = self.shards[shard]
            self._check_hash(entry, file_sha256(self._file(entry)))
            try:
                self._handles[shard] = safe_open(self._file(entry), framework='pt')
            except Exception as err:
                raise TeacherCacheError(f'teacher cache file {self._file(entry)!r} cannot be read: '
                                        f'{err}') from err
        return self._handles[shard]

    def __getstate__(self) -> dict:
        # open shard handles do not pickle (DataLoader workers with 'spawn'); workers reopen
        return dict(self.__dict__, _handles={}, _tensors={})

    def check(self, expected: Dict[str, Any], where: str) -> None:
        """Raise :class:`TeacherCacheMismatchError` naming every entry of ``expected`` (a part of
        the key, see :func:`teacher_key` and :func:`data_key`) that the cache's key differs in."""
        differences = [line for section, value in expected.items()
                       for line in key_differences(self.key.get(section), canonical_json(value),
                                                section)]
        if differences:
            raise TeacherCacheMismatchError(
                f'{where}: the teacher cache {self.path!r} was made for another config; '
                f'differences (cache vs config):\n  ' + '\n  '.join(differences) + '\n'
                + REBUILD_HINT.format(path=self.path))

    def _shard_tensors(self, shard: int) -> Dict[str, Tensor]:
        """A shard's per-sample recordings, read whole on first use: indexing a tensor in memory
        costs a microsecond, a safetensors slice about fifty."""
        if shard not in self._tensors:
            handle = self._shard(shard)
            self._tensors[shard] = {key: handle.get_tensor(key) for key in self.per_sample_keys}
        return self._tensors[shard]

    def sample_outputs(self, index: int, aug: int) -> Dict[str, Tensor]:
        """The per-sample recordings (``[rows, ...]`` each) of augmentation ``aug`` of sample
        ``index``."""
        if not 0 <= index < self.num_samples or not 0 <= aug < self.num_augs:
            raise OutOfRangeError(f'teacher cache {self.path!r}: no sample {index} augmentation '
                                  f'{aug} ({self.num_samples} samples x {self.num_augs} '
                                  'augmentations)')
        shard = bisect.bisect_right(self._starts, index) - 1
        local = index - self.shards[shard]['start']
        return {key: value[local, aug].clone()
                for key, value in self._shard_tensors(shard).items()}

    def batch_recordings(self, data_samples: Any) -> Dict[str, Dict[str, Tensor]]:
        """Teacher name -> recorder name -> the batch's tensor, as the live teacher records it,
        from a batch of :class:`TeacherCacheDataset` items."""
        if not isinstance(data_samples, dict) or 'teacher_outputs' not in data_samples:
            raise ConfigError("model.teacher_cache: the batch has no "
                              "data_samples['teacher_outputs']"
                              "; train on "
                              "train_dataloader.dataset=dict(type='TeacherCacheDataset', "
                              "...)")
        outputs, aug_idx = data_samples['teacher_outputs'], data_samples['aug_idx']
        batch_size = len(aug_idx)
        device = aug_idx.device if torch.is_tensor(aug_idx) else 'cpu'
        recordings: Dict[str, Dict[str, Tensor]] = {}
        for key, layout in self.recordings.items():
            if layout['kind'] == 'per_sample':
                value = outputs[key]
                value = torch.stack(list(value)) if isinstance(value, (list, tuple)) else value
                value = value.flatten(0, 1)
            elif layout['kind'] == 'batch_index':
                value = batch_index(batch_size, layout['rows'], _dtype(layout['dtype']), device)
            else:
                value = self.shared[key].to(device)
            owner, name = key.split('.', 1)
            recordings.setdefault(owner, {})[name] = value
        return recordings
