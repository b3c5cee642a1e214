"""Teacher-output cache: run the teachers once, train many times (MobileCLIP-style dataset
reinforcement).

``tools/cache_teacher.py CONFIG --num-augs K`` draws K augmentations of every training sample,
runs the teachers on them and stores what the distiller records from the teachers (the
``<teacher>.<recorder>`` tensors the losses read) in safetensors shards, with a manifest::

    DIR/manifest.json            key, layout of each recording, shards (sample range, bytes, sha256)
    DIR/shard_00000.safetensors  '<teacher>.<recorder>': [samples, K, rows, ...] per recording
    DIR/shared.safetensors       recordings that are the same for every batch (a logit scale)

Augmentation ``a`` of sample ``i`` is drawn with torch's (CPU), numpy's and python's global RNGs
seeded from ``(seed, i, a)`` (and restored afterwards), so any dataset whose transforms use those
RNGs replays it exactly, in any DataLoader worker. A dataset whose augmentations draw from fewer
of them says so in a ``replay_rngs`` attribute (e.g. ``('torch',)``): saving and restoring
numpy's and python's states costs about 0.2 ms per sample, more than a small student's step per
sample. Training with the cache::

    teacher_cache_dir = 'work_dirs/teacher_cache/kd_cnn_digits'
    model = dict(teacher_cache=dict(path=teacher_cache_dir))         # teachers are not built
    train_dataloader = dict(dataset=dict(
        _delete_=True, type='TeacherCacheDataset', path=teacher_cache_dir, num_augs=8, seed=0,
        dataset=dict(type='DigitsDataset', split='train', max_shift=1)))

The dataset picks one of the K augmentations per sample and epoch (from torch's global RNG, which
``EpochSeedHook`` seeds), replays it and attaches that augmentation's teacher recordings as
``data_samples['teacher_outputs']``. The cache key, checked by the model (teacher checkpoints'
sha256, teacher configs, recorders, data preprocessor) and by the dataset (dataset config with its
transform parameters, K, seed), makes a cache that does not fit the config an error that names what
differs.

How a recording is split per sample, decided on the first batch and checked on every other one:
a tensor whose first dimension is a multiple of the batch size ``B`` has ``rows = len // B`` rows
per sample (``[B, C]`` logits: 1 row; per-point features of ``B`` clouds of ``N`` points ``[B * N,
C]``: N rows); an integer vector equal to ``arange(B).repeat_interleave(rows)`` (PyG's ``batch``)
is rebuilt for each batch instead of stored; any other tensor must be the same in every batch and
is stored once.
"""
import bisect
import copy
import datetime
import functools
import glob
import hashlib
import json
import os
import os.path as osp
import random
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from mmkd.fileio import atomic_write_bytes
from mmkd.registry import DATASETS
from .teacher import TeacherSpec

MANIFEST = 'manifest.json'
SHARED_FILE = 'shared.safetensors'
FORMAT_VERSION = 1
REBUILD_HINT = 'rebuild it with: python tools/cache_teacher.py CONFIG --out {path}'


class TeacherCacheError(RuntimeError):
    """A cache that is incomplete, truncated or corrupt."""


class TeacherCacheMismatchError(ValueError):
    """A cache made for another config; the message lists what differs."""


# ----------------------------------------------------------------------------- cache key
def file_sha256(path: str, where: str = 'file') -> str:
    """The sha256 of a file's bytes, read in 1 MB blocks."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{where}: file {path!r} does not exist')
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _json_default(obj: Any) -> str:
    if isinstance(obj, type) or callable(obj):
        return f'{obj.__module__}.{getattr(obj, "__qualname__", type(obj).__qualname__)}'
    return repr(obj)


def _canonical(obj: Any) -> Any:
    """``obj`` as plain JSON values (tuples -> lists, ConfigDicts -> dicts), as stored."""
    return json.loads(json.dumps(obj, sort_keys=True, default=_json_default))


def check_cacheable(spec: TeacherSpec) -> None:
    """Raise unless the teacher's outputs are a function of its input alone."""
    if spec.ema_of_student:
        raise ValueError(f'{spec.where}: an EMA teacher changes during training; its outputs '
                         f'cannot be cached')
    if spec.mode != 'eval':
        raise ValueError(f"{spec.where}.mode: a cached teacher must run in 'eval' mode (in "
                         f'{spec.mode!r} mode its outputs depend on the batch), got {spec.mode!r}')
    if spec.checkpoint is None:
        raise ValueError(f'{spec.where}.checkpoint: a cached teacher needs a checkpoint file '
                         f'(the cache key holds its hash)')


def teacher_key(specs: Mapping[str, TeacherSpec], recorders: Mapping[str, Any],
                data_preprocessor: Optional[dict]) -> Dict[str, Any]:
    """The model side of the cache key: teachers (config, checkpoint hash, mode, dtype, inputs),
    their recorders and the data preprocessor that prepares their inputs."""
    teachers = {
        name: dict(model=spec.model_cfg, prefix=spec.prefix, mode=spec.mode,
                   dtype=str(spec.dtype).replace('torch.', ''), inputs=spec.inputs_field,
                   checkpoint_sha256=file_sha256(spec.checkpoint, f'{spec.where}.checkpoint'))
        for name, spec in specs.items()}
    return _canonical(dict(teachers=teachers,
                           recorders={name: recorders.get(name, {}) for name in specs},
                           data_preprocessor=data_preprocessor))


def data_key(dataset: dict, num_augs: int, seed: int) -> Dict[str, Any]:
    """The data side of the cache key: the dataset config (with its transform parameters), the
    number of augmentations per sample and the seed they are drawn from."""
    return _canonical(dict(dataset=dataset, num_augs=int(num_augs), seed=int(seed)))


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + '...'


def _differences(cached: Any, expected: Any, path: str) -> List[str]:
    if isinstance(cached, dict) and isinstance(expected, dict):
        lines = []
        for key in sorted(set(cached) | set(expected)):
            sub = f'{path}.{key}'
            if key not in expected:
                lines.append(f'{sub}: only in the cache ({_short(cached[key])})')
            elif key not in cached:
                lines.append(f'{sub}: only in the config ({_short(expected[key])})')
            else:
                lines += _differences(cached[key], expected[key], sub)
        return lines
    if isinstance(cached, list) and isinstance(expected, list) and len(cached) == len(expected):
        return [line for i, (a, b) in enumerate(zip(cached, expected))
                for line in _differences(a, b, f'{path}[{i}]')]
    return [] if cached == expected else [f'{path}: cache {_short(cached)} vs config '
                                          f'{_short(expected)}']


# ----------------------------------------------------------------------------- replay
@functools.lru_cache(maxsize=1 << 20)  # 40 us a call; a training run asks again every epoch
def augmentation_seed(seed: int, index: int, aug: int) -> int:
    """The RNG seed of augmentation ``aug`` of sample ``index``."""
    return int(np.random.SeedSequence((int(seed), int(index), int(aug))).generate_state(1)[0])


# name -> (get state, set state, seed) of a global RNG; torch's CPU generator only:
# torch.manual_seed also seeds every accelerator (0.3 ms a call)
GLOBAL_RNGS = dict(
    torch=(torch.get_rng_state, torch.set_rng_state, torch.default_generator.manual_seed),
    numpy=(np.random.get_state, np.random.set_state, np.random.seed),
    python=(random.getstate, random.setstate, random.seed))
ALL_RNGS = tuple(GLOBAL_RNGS)


@contextmanager
def seeded_rngs(seed: int, rngs: Sequence[str] = ALL_RNGS) -> Iterator[None]:
    """Seed the global RNGs named in ``rngs`` (of torch's CPU generator, numpy's and python's);
    restore their states on exit."""
    unknown = set(rngs) - set(ALL_RNGS)
    if unknown:
        raise ValueError(f'rngs: expected names among {ALL_RNGS}, got {sorted(unknown)}')
    states = {name: GLOBAL_RNGS[name][0]() for name in rngs}
    for name in rngs:
        GLOBAL_RNGS[name][2](seed)
    try:
        yield
    finally:
        for name, state in states.items():
            GLOBAL_RNGS[name][1](state)


class ReplayedAugmentations(Dataset):
    """Every recorded augmentation of ``dataset``: item ``i * num_augs + a`` is augmentation
    ``a`` of sample ``i``, with ``data_samples['aug_idx'] = a``. What the cache tool iterates.
    The RNGs seeded per item are the dataset's ``replay_rngs`` (default: all three)."""

    def __init__(self, dataset: Dataset, num_augs: int, seed: int = 0) -> None:
        if int(num_augs) != num_augs or num_augs < 1:
            raise ValueError(f'num_augs: expected a positive int, got {num_augs!r}')
        self.dataset, self.num_augs, self.seed = dataset, int(num_augs), int(seed)
        self.rngs = tuple(getattr(dataset, 'replay_rngs', ALL_RNGS))

    def __len__(self) -> int:
        return len(self.dataset) * self.num_augs

    def item(self, index: int, aug: int) -> Dict:
        """Augmentation ``aug`` of sample ``index``, the same on every call."""
        with seeded_rngs(augmentation_seed(self.seed, index, aug), self.rngs):
            item = self.dataset[index]
        if not isinstance(item, dict) or not isinstance(item.get('data_samples'), dict):
            raise TypeError(f'{type(self.dataset).__name__}[{index}]: expected '
                            f'dict(inputs=..., data_samples=dict(...)) to replay augmentations')
        return dict(item, data_samples=dict(item['data_samples'], aug_idx=aug))

    def __getitem__(self, index: int) -> Dict:
        return self.item(index // self.num_augs, index % self.num_augs)


@DATASETS.register_module()
class TeacherCacheDataset(Dataset):
    """A training set with cached teacher outputs: sample ``i`` is one of its ``num_augs``
    recorded augmentations (drawn from torch's global RNG), replayed exactly, with that
    augmentation's teacher recordings in ``data_samples['teacher_outputs']``.

    Args:
        dataset: the config of the wrapped dataset, exactly as the cache was made from.
        path: the cache directory written by ``tools/cache_teacher.py``.
        num_augs: augmentations per sample in the cache.
        seed: the seed the augmentations were drawn from.
    """

    def __init__(self, dataset: dict, path: str, num_augs: int, seed: int = 0) -> None:
        if not isinstance(dataset, dict):
            raise TypeError(f'train_dataloader.dataset.dataset: expected the config dict of the '
                            f'wrapped dataset (it is part of the cache key), got '
                            f'{type(dataset).__name__}')
        self.cache = TeacherCache(path)
        self.cache.check(data_key(dataset, num_augs, seed), 'train_dataloader.dataset')
        self.replay = ReplayedAugmentations(DATASETS.build(dataset), num_augs, seed)
        if len(self.replay.dataset) != self.cache.num_samples:
            raise TeacherCacheMismatchError(
                f'train_dataloader.dataset: the dataset has {len(self.replay.dataset)} samples, '
                f'the teacher cache {path!r} {self.cache.num_samples}; '
                + REBUILD_HINT.format(path=path))

    @property
    def metainfo(self) -> dict:
        return getattr(self.replay.dataset, 'metainfo', {})

    def __len__(self) -> int:
        return len(self.replay.dataset)

    def __getitem__(self, index: int) -> Dict:
        aug = int(torch.randint(self.replay.num_augs, ()))
        item = self.replay.item(index, aug)
        item['data_samples']['teacher_outputs'] = self.cache.sample_outputs(index, aug)
        return item


# ----------------------------------------------------------------------------- reading
def _dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


def _batch_index(batch_size: int, rows: int, dtype: torch.dtype,
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
                raise TeacherCacheError(f'teacher cache file {self._file(entry)!r} cannot be '
                                        f'read: {err}') from err
        return self._handles[shard]

    def __getstate__(self) -> dict:
        # open shard handles do not pickle (DataLoader workers with 'spawn'); workers reopen
        return dict(self.__dict__, _handles={}, _tensors={})

    def check(self, expected: Dict[str, Any], where: str) -> None:
        """Raise :class:`TeacherCacheMismatchError` naming every entry of ``expected`` (a part of
        the key, see :func:`teacher_key` and :func:`data_key`) that the cache's key differs in."""
        differences = [line for section, value in expected.items()
                       for line in _differences(self.key.get(section), _canonical(value),
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
            raise IndexError(f'teacher cache {self.path!r}: no sample {index} augmentation {aug} '
                             f'({self.num_samples} samples x {self.num_augs} augmentations)')
        shard = bisect.bisect_right(self._starts, index) - 1
        local = index - self.shards[shard]['start']
        return {key: value[local, aug].clone()
                for key, value in self._shard_tensors(shard).items()}

    def batch_recordings(self, data_samples: Any) -> Dict[str, Dict[str, Tensor]]:
        """Teacher name -> recorder name -> the batch's tensor, as the live teacher records it,
        from a batch of :class:`TeacherCacheDataset` items."""
        if not isinstance(data_samples, dict) or 'teacher_outputs' not in data_samples:
            raise KeyError("model.teacher_cache: the batch has no data_samples['teacher_outputs']"
                           "; train on train_dataloader.dataset=dict(type='TeacherCacheDataset', "
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
                value = _batch_index(batch_size, layout['rows'], _dtype(layout['dtype']), device)
            else:
                value = self.shared[key].to(device)
            owner, name = key.split('.', 1)
            recordings.setdefault(owner, {})[name] = value
        return recordings


# ----------------------------------------------------------------------------- writing
def _layout(value: Any, batch_size: int, key: str) -> dict:
    if not torch.is_tensor(value):
        raise TypeError(f'{key}: the recorder holds a {type(value).__name__}; only tensors can be '
                        f'cached (pick one element of a tuple with index=...)')
    dtype = str(value.dtype).replace('torch.', '')
    if value.dim() and value.shape[0] and value.shape[0] % batch_size == 0:
        rows = value.shape[0] // batch_size
        if value.dim() == 1 and not value.is_floating_point() and torch.equal(
                value.cpu(), _batch_index(batch_size, rows, value.dtype)):
            return dict(kind='batch_index', rows=rows, dtype=dtype)
        return dict(kind='per_sample', rows=rows, shape=list(value.shape[1:]), dtype=dtype)
    return dict(kind='shared', shape=list(value.shape), dtype=dtype)


class _RecordingSplitter:
    """Splits each batch's recordings per item, with the layout of each recording decided on the
    first batch and checked on every other one; keeps the ``shared`` ones."""

    def __init__(self) -> None:
        self.layouts: Dict[str, dict] = {}
        self.shared: Dict[str, Tensor] = {}

    def split(self, recorded: Dict[str, Any], num_items: int) -> Dict[str, Tensor]:
        """``recorded``: ``'<teacher>.<recorder>'`` -> tensor; returns the per-sample ones as
        ``[num_items, rows, ...]``."""
        first = not self.layouts
        rows = {}
        for key, value in recorded.items():
            layout = _layout(value, num_items, key)
            value = value.detach().cpu()
            if first:
                self.layouts[key] = layout
                if layout['kind'] == 'shared':
                    self.shared[key] = value.clone()
            elif layout != self.layouts[key] or (
                    layout['kind'] == 'shared' and not torch.equal(value, self.shared[key])):
                raise ValueError(
                    f'model.distiller.recorders.{key}: recorded as {self.layouts[key]} in the '
                    f'first batch but as {layout} in a later one; only per-sample tensors with '
                    f'a fixed number of rows per sample, or tensors that are the same in every '
                    f'batch, can be cached')
            if layout['kind'] == 'per_sample':
                rows[key] = value.reshape(num_items, layout['rows'], *value.shape[1:])
        return rows


class _ShardWriter:
    """Collects per-sample recordings in sample order and writes them as shards of whole samples
    (all augmentations of a sample in one shard) of about ``max_bytes``, atomically."""

    def __init__(self, out_dir: str, num_augs: int, max_bytes: int) -> None:
        self.out_dir, self.num_augs, self.max_bytes = out_dir, num_augs, max_bytes
        self.pending: Dict[str, List[Tensor]] = {}
        self.pending_items = self.pending_bytes = 0
        self.shards: List[dict] = []
        self.num_samples = 0

    def add(self, rows: Dict[str, Tensor], num_items: int) -> None:
        """``rows``: recording key -> ``[num_items, rows, ...]``."""
        for key, value in rows.items():
            self.pending.setdefault(key, []).append(value)
            self.pending_bytes += value.numel() * value.element_size()
        self.pending_items += num_items
        if self.pending_bytes >= self.max_bytes:
            self.flush()

    def flush(self) -> None:
        samples = self.pending_items // self.num_augs
        if samples == 0:
            return
        items = samples * self.num_augs
        merged = {key: torch.cat(values) for key, values in self.pending.items()}
        tensors = {key: value[:items].reshape(samples, self.num_augs, *value.shape[1:])
                   .contiguous() for key, value in merged.items()}
        self.pending = {key: [value[items:].clone()] for key, value in merged.items()}
        self.pending_items -= items
        self.pending_bytes = sum(v[0].numel() * v[0].element_size()
                                 for v in self.pending.values())
        start, stop = self.num_samples, self.num_samples + samples
        name = f'shard_{len(self.shards):05d}.safetensors'
        self.shards.append(_write_safetensors(
            tensors, self.out_dir, name, dict(start=str(start), stop=str(stop))))
        self.shards[-1].update(start=start, stop=stop)
        self.num_samples = stop


def _write_safetensors(tensors: Dict[str, Tensor], out_dir: str, name: str,
                       metadata: Optional[Dict[str, str]] = None) -> dict:
    from safetensors.torch import save
    data = save(tensors, metadata=metadata)
    atomic_write_bytes(data, osp.join(out_dir, name))
    return dict(file=name, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())


def _is_whole_cache_for(path: str, key: Dict[str, Any]) -> bool:
    """Whether ``path`` holds a complete cache (manifest and files of the right sizes) made with
    exactly ``key``."""
    if not osp.isfile(osp.join(path, MANIFEST)):
        return False
    try:
        TeacherCache(path).check(key, 'teacher cache')
    except (TeacherCacheError, TeacherCacheMismatchError):
        return False
    return True


def cache_settings(cfg: Any, out: Optional[str] = None, num_augs: Optional[int] = None,
                   seed: Optional[int] = None) -> Dict[str, Any]:
    """The wrapped dataset config, output directory, K and seed for caching ``cfg``'s teachers:
    from its ``TeacherCacheDataset`` when the training set is one, else ``out`` defaults to
    ``work_dirs/teacher_cache/<config name>``, K to 4 and the seed to ``randomness.seed``;
    arguments that are given win."""
    dataset = copy.deepcopy(cfg.train_dataloader.dataset)
    settings = dict(dataset=dataset, path=None, num_augs=4,
                    seed=(cfg.get('randomness') or {}).get('seed') or 0)
    if dataset.get('type') in ('TeacherCacheDataset', TeacherCacheDataset):
        settings.update(dataset=dataset['dataset'], path=dataset['path'],
                        num_augs=dataset['num_augs'], seed=dataset.get('seed', 0))
    if settings['path'] is None:
        name = osp.splitext(osp.basename(cfg.filename or 'config'))[0]
        settings['path'] = osp.join('work_dirs', 'teacher_cache', name)
    for key, value in dict(path=out, num_augs=num_augs, seed=seed).items():
        if value is not None:
            settings[key] = value
    return settings


def write_teacher_cache(cfg: Any, out: Optional[str] = None, num_augs: Optional[int] = None,
                        seed: Optional[int] = None, batch_size: Optional[int] = None,
                        shard_size_mb: float = 256.0, progress: bool = True,
                        reuse: bool = False) -> str:
    """Run ``cfg``'s teachers over ``num_augs`` replayed augmentations of every training sample
    and write the cache (see the module docstring); returns its directory. With ``reuse``, a
    whole cache already there whose key is this config's is kept as it is.

    The manifest is written last, so an interrupted run leaves no readable cache.
    """
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from tqdm import tqdm

    from mmkd.registry import MODELS
    from mmkd.version import __version__

    init_default_scope(cfg.get('default_scope', 'mmkd'))
    settings = cache_settings(cfg, out, num_augs, seed)
    out_dir, num_augs, seed = settings['path'], int(settings['num_augs']), int(settings['seed'])
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.pop('teacher_cache', None)
    if not model_cfg.get('teachers'):
        raise KeyError(f'model: {model_cfg.get("type")!r} with no model.teachers; the teacher '
                       f'cache needs a distillation config with teachers')
    algorithm = MODELS.build(model_cfg)
    for spec in algorithm.teacher_specs.values():
        check_cacheable(spec)
    key = dict(algorithm.cache_key(), **data_key(settings['dataset'], num_augs, seed))
    if reuse and _is_whole_cache_for(out_dir, key):
        return out_dir
    algorithm.train(False)

    os.makedirs(out_dir, exist_ok=True)
    if osp.exists(osp.join(out_dir, MANIFEST)):
        os.remove(osp.join(out_dir, MANIFEST))
    dataset = ReplayedAugmentations(DATASETS.build(settings['dataset']), num_augs, seed)
    loader_cfg = cfg.train_dataloader
    loader = Runner.build_dataloader(dict(
        dataset=dataset, batch_size=batch_size or loader_cfg.batch_size,
        num_workers=loader_cfg.get('num_workers', 0),
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=loader_cfg.get('collate_fn', dict(type='pseudo_collate'))))
    groups = {name: group for name, group in algorithm.distiller.recorder_groups.items()
              if name in algorithm.teachers}
    splitter = _RecordingSplitter()
    writer = _ShardWriter(out_dir, num_augs, int(shard_size_mb * 2**20))
    with tqdm(total=len(dataset), desc=f'teacher outputs -> {out_dir}', unit='aug',
              disable=not progress) as bar:
        for batch in loader:
            data = algorithm.data_preprocessor(batch, True)
            algorithm.run_teachers(data['inputs'], data['data_samples'])
            recorded = {
                f'{name}.{recorder}': group.get(recorder,
                                                f'model.distiller.recorders.{name}.{recorder}')
                for name, group in groups.items() for recorder in group.recorders}
            num_items = len(batch['data_samples']['aug_idx'])
            writer.add(splitter.split(recorded, num_items), num_items)
            bar.update(num_items)
    writer.flush()
    if writer.num_samples != len(dataset.dataset):
        raise RuntimeError(f'cached {writer.num_samples} samples of {len(dataset.dataset)}: the '
                           f'data loader dropped some (drop_last?)')

    manifest = dict(
        format=FORMAT_VERSION, key=key, num_samples=writer.num_samples, num_augs=num_augs,
        seed=seed, recordings=splitter.layouts, shards=writer.shards,
        shared=(_write_safetensors(splitter.shared, out_dir, SHARED_FILE) if splitter.shared
                else None),
        info=dict(config=cfg.filename, mmkd=__version__,
                  created=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                  checkpoints={n: s.checkpoint for n, s in algorithm.teacher_specs.items()}))
    kept = {entry['file'] for entry in writer.shards}
    for stale in glob.glob(osp.join(out_dir, 'shard_*.safetensors')):
        if osp.basename(stale) not in kept:
            os.remove(stale)
    if not splitter.shared and osp.exists(osp.join(out_dir, SHARED_FILE)):
        os.remove(osp.join(out_dir, SHARED_FILE))
    atomic_write_bytes(json.dumps(manifest, indent=1).encode(), osp.join(out_dir, MANIFEST))
    return out_dir
