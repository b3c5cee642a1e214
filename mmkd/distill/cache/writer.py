"""Writing a cache: K augmentations of every training sample through the teachers, the
recordings split per sample into safetensors shards, written atomically, with the manifest
last."""
import copy
import datetime
import glob
import hashlib
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional

import torch
from torch import Tensor

from mmkd.errors import ConfigError, InvalidValueError, StateError, WrongTypeError
from mmkd.fileio import atomic_write_bytes, remove_orphan_temporaries
from mmkd.registry import DATASETS

from .dataset import ReplayedAugmentations, TeacherCacheDataset
from .key import (FORMAT_VERSION, MANIFEST, SHARED_FILE, TeacherCacheError,
                  TeacherCacheMismatchError, check_cacheable, data_key)
from .reader import TeacherCache, batch_index

# ----------------------------------------------------------------------------- writing
def _layout(value: Any, batch_size: int, key: str) -> dict:
    if not torch.is_tensor(value):
        raise WrongTypeError(f'{key}: the recorder holds a {type(value).__name__}; only tensors '
                             'can be cached (pick one element of a tuple with index=...)')
    dtype = str(value.dtype).replace('torch.', '')
    if value.dim() and value.shape[0] and value.shape[0] % batch_size == 0:
        rows = value.shape[0] // batch_size
        if value.dim() == 1 and not value.is_floating_point() and torch.equal(
                value.cpu(), batch_index(batch_size, rows, value.dtype)):
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
                raise InvalidValueError(
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
        raise ConfigError(f'model: {model_cfg.get("type")!r} with no model.teachers; the teacher '
                          'cache needs a distillation config with teachers')
    algorithm = MODELS.build(model_cfg)
    for spec in algorithm.teacher_specs.values():
        check_cacheable(spec)
    key = dict(algorithm.cache_key(), **data_key(settings['dataset'], num_augs, seed))
    if reuse and _is_whole_cache_for(out_dir, key):
        return out_dir
    algorithm.train(False)

    os.makedirs(out_dir, exist_ok=True)
    remove_orphan_temporaries(out_dir)  # of a write that was killed
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
        raise StateError(f'cached {writer.num_samples} samples of {len(dataset.dataset)}: the data '
                         'loader dropped some (drop_last?)')

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
