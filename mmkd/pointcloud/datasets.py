"""Point-cloud classification datasets.

* ``SyntheticShapes``: 12 classes of noisy, randomly scaled/rotated, sometimes partially occluded
  shapes built from open3d primitives; generated once (deterministically for a seed) into a
  ``.npz`` cache per split.
* ``ModelNetFolder``: ModelNet layout ``root/<class>/{train,test}/*.off``.
* ``PointCloudFolder``: ``root/<class>/*.{ply,pcd,xyz,npy}``.

Items are ``dict(inputs=FloatTensor[num_points, 3], data_samples=dict(labels=int,
sample_idx=index))`` after the optional ``transforms`` (see ``mmkd.pointcloud.transforms``), so
``default_collate`` stacks a batch to ``[B, num_points, 3]``.

open3d is imported lazily (:mod:`.point_files`, :mod:`.synthetic_shapes`). Files read by
``ModelNetFolder``/``PointCloudFolder`` are loaded on first access and kept in memory; pass
``preload=True`` to read everything in the main process so DataLoader workers never touch open3d.
Surface sampling is done with numpy from triangle areas (not open3d's RNG), seeded per sample or
per file, so results are reproducible.
"""
import hashlib
import io
import json
import os
import os.path as osp
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from mmkd.errors import InvalidValueError, MissingFileError, OutOfRangeError
from mmkd.fileio import atomic_write_bytes
from mmkd.registry import DATASETS

from .point_files import choose_points, normalize_points, read_mesh, read_points, sample_surface
from .synthetic_shapes import SHAPES, make_synthetic_sample
from .transforms import build_point_transforms

__all__ = ['SyntheticShapes', 'ModelNetFolder', 'PointCloudFolder', 'sample_surface',
           'read_mesh', 'read_points']


def _file_rng(path: str, root: str) -> np.random.Generator:
    """A generator seeded from the file's path relative to ``root`` (stable across machines)."""
    rel = osp.relpath(path, root).replace(os.sep, '/')
    return np.random.default_rng(zlib.crc32(rel.encode('utf-8')))


# ----------------------------------------------------------------------------- shared base
class _PointDatasetBase(Dataset):
    """Items from ``self._points(index)`` (float32 numpy [num_points, 3]) and ``self.labels``."""

    labels: List[int]

    def __len__(self) -> int:
        return len(self.labels)

    def _points(self, index: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __getitem__(self, index: int) -> Dict:
        if not -len(self) <= index < len(self):
            raise OutOfRangeError(f'{type(self).__name__}: index {index} out of range for '
                                  f'{len(self)} samples')
        index = index % len(self)
        points = torch.from_numpy(np.array(self._points(index), dtype=np.float32))
        if self.transforms is not None:
            points = self.transforms(points)
            if isinstance(points, np.ndarray):
                points = torch.from_numpy(points)
            points = points.float()
        return dict(inputs=points,
                    data_samples=dict(labels=int(self.labels[index]), sample_idx=index))


class _FileDatasetBase(_PointDatasetBase):
    """Shared class discovery, lazy loading with an in-memory cache, and preloading."""

    def _find(self, root: str, classes: Optional[Sequence[str]], subdir: Optional[str],
              extensions: Sequence[str], what: str) -> None:
        root = str(root)
        if not osp.isdir(root):
            raise MissingFileError(f'{type(self).__name__}: root {root!r} is not a directory')
        if classes is None:
            classes = sorted(d for d in os.listdir(root)
                             if osp.isdir(osp.join(root, d)) and not d.startswith('.'))
            if not classes:
                raise MissingFileError(f'{type(self).__name__}: no class folders in {root!r} '
                                       f'(expected {what})')
        else:
            classes = list(classes)
            missing = [c for c in classes if not osp.isdir(osp.join(root, c))]
            if missing:
                raise MissingFileError(f'{type(self).__name__}: class folders {missing} not found '
                                       f'in {root!r}')
        exts = tuple(e.lower() for e in extensions)
        files, labels = [], []
        for label, name in enumerate(classes):
            folder = osp.join(root, name) if subdir is None else osp.join(root, name, subdir)
            if not osp.isdir(folder):
                continue
            for fname in sorted(os.listdir(folder)):
                path = osp.join(folder, fname)
                if fname.lower().endswith(exts) and osp.isfile(path):
                    files.append(path)
                    labels.append(label)
        if not files:
            raise MissingFileError(f'{type(self).__name__}: no {"/".join(exts)} files in {root!r} '
                                   f'(expected {what})')
        self.root = root
        self.files = files
        self.labels = labels
        self.metainfo = dict(classes=tuple(classes))
        self._cache: Dict[int, np.ndarray] = {}

    def _load(self, path: str) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def _points(self, index: int) -> np.ndarray:
        points = self._cache.get(index)
        if points is None:
            points = self._load(self.files[index])
            self._cache[index] = points
        return points

    def preload(self) -> None:
        """Read every file now (in this process)."""
        for i in range(len(self.files)):
            self._points(i)


# ----------------------------------------------------------------------------- ModelNet
@DATASETS.register_module()
class ModelNetFolder(_FileDatasetBase):
    """ModelNet-style meshes ``root/<class>/<split>/*.off`` sampled to point clouds.

    Args:
        root: dataset root; class names are its sub-folders, sorted (or ``classes``).
        split: ``'train'`` or ``'test'`` (the sub-folder inside each class folder).
        num_points: points sampled uniformly from each mesh surface (deterministic per file).
        transforms: a callable, a transform config dict, or a list of them (see
            ``mmkd.pointcloud.transforms``), applied on every access.
        classes: class folder names in label order; default all, sorted.
        normalize: centre and scale each sampled cloud to the unit sphere.
        preload: read every mesh in ``__init__`` (keeps open3d out of DataLoader workers).
    """

    def __init__(self, root: str, split: str = 'train', num_points: int = 1024,
                 transforms=None, classes: Optional[Sequence[str]] = None,
                 normalize: bool = True, preload: bool = False) -> None:
        if split not in ('train', 'test'):
            raise InvalidValueError(f"split: expected 'train' or 'test', got {split!r}")
        self.split = split
        self.num_points = int(num_points)
        self.normalize = normalize
        self.transforms = build_point_transforms(transforms)
        self._find(root, classes, split, ('.off',), f'<class>/{split}/*.off')
        if preload:
            self.preload()

    def _load(self, path: str) -> np.ndarray:
        vertices, triangles = read_mesh(path)
        try:
            points = sample_surface(vertices, triangles, self.num_points,
                                    _file_rng(path, self.root))
        except ValueError as e:
            raise InvalidValueError(f'cannot sample points from mesh {path!r}: {e}') from e
        if self.normalize:
            points = normalize_points(points)
        return points.astype(np.float32)


# ----------------------------------------------------------------------------- generic folder
@DATASETS.register_module()
class PointCloudFolder(_FileDatasetBase):
    """Point clouds ``root/<class>/*.{ply,pcd,xyz,npy}`` (``root/<class>/<split>/...`` when
    ``split`` is given), each resampled to ``num_points`` points (deterministic per file: a
    subset without replacement, or with repeats when the file has fewer points).

    Args mirror :class:`ModelNetFolder`; ``extensions`` selects the file types.
    """

    EXTENSIONS = ('.ply', '.pcd', '.xyz', '.npy')

    def __init__(self, root: str, split: Optional[str] = None, num_points: int = 1024,
                 transforms=None, classes: Optional[Sequence[str]] = None,
                 extensions: Sequence[str] = EXTENSIONS, normalize: bool = True,
                 preload: bool = False) -> None:
        self.split = split
        self.num_points = int(num_points)
        self.normalize = normalize
        self.transforms = build_point_transforms(transforms)
        pattern = '<class>/' + ('' if split is None else f'{split}/') + '*' + \
            '{' + ','.join(extensions) + '}'
        self._find(root, classes, split, extensions, pattern)
        if preload:
            self.preload()

    def _load(self, path: str) -> np.ndarray:
        points = choose_points(read_points(path), self.num_points, _file_rng(path, self.root))
        if self.normalize:
            points = normalize_points(points)
        return points.astype(np.float32)


@DATASETS.register_module()
class SyntheticShapes(_PointDatasetBase):
    """Confusable synthetic 3D shapes (12 classes) as point clouds, cached on disk.

    Each sample is a shape from open3d primitives/compositions with random part proportions,
    random anisotropic scale, uniformly random rotation, area-weighted surface sampling, a
    partial occlusion (points beyond a random plane removed) ``occlusion_prob`` of the time,
    normalisation to the unit sphere and Gaussian noise. Sample ``i`` of a split has class
    ``i % num_classes`` and is generated from ``numpy.random.default_rng((seed, split_id, i))``,
    so the data depend only on the parameters. Each split is written once to
    ``cache_dir/synthetic_shapes_<split>_..._<hash>.npz`` (hash of all generation parameters
    and ``VERSION``; arrays ``points`` float32 [M, P, 3], ``labels`` int64 [M]) atomically and
    loaded from there afterwards. ``self.generated`` tells whether this instance generated.

    Args:
        split: ``'train'``, ``'val'`` (held out for model selection; its own generator stream,
            so adding it changes neither of the others) or ``'test'``.
        num_train_per_class / num_val_per_class / num_test_per_class: samples per class in
            each split.
        num_points: points per cloud.
        seed: generation seed.
        cache_dir: where the ``.npz`` files go (None: generate in memory, no cache).
        transforms: callable / config dict / list of them, applied on every access.
        classes: a subset of ``SyntheticShapes.CLASSES`` (in that order), default all.
        noise_std, occlusion_prob, scale_range: generation difficulty.
        progress: show a tqdm bar while generating.
    """

    VERSION = 1
    CLASSES = tuple(SHAPES)
    # a split's index is its generator stream: append new splits, never reorder (cached files
    # would silently hold other data)
    SPLITS = ('train', 'test', 'val')

    def __init__(self, split: str = 'train', num_train_per_class: int = 80,
                 num_test_per_class: int = 20, num_points: int = 1024, seed: int = 0,
                 cache_dir: Optional[str] = 'work_dirs/data/synthetic_shapes',
                 num_val_per_class: int = 20,
                 transforms=None, classes: Optional[Sequence[str]] = None,
                 noise_std: float = 0.01, occlusion_prob: float = 0.3,
                 scale_range: Tuple[float, float] = (0.7, 1.3), progress: bool = True) -> None:
        if split not in self.SPLITS:
            raise InvalidValueError(f'split: expected one of {list(self.SPLITS)}, got {split!r}')
        classes = self.CLASSES if classes is None else tuple(classes)
        unknown = [c for c in classes if c not in SHAPES]
        if unknown or not classes:
            raise InvalidValueError(f'classes: unknown shapes {unknown} (known: {list(SHAPES)})')
        per_class = dict(train=num_train_per_class, val=num_val_per_class,
                         test=num_test_per_class)[split]
        if per_class < 1 or num_points < 1:
            raise InvalidValueError(f'need >= 1 sample per class and point, got {per_class} per '
                                    f'class and num_points={num_points}')
        self.split = split
        self.num_points = int(num_points)
        self.transforms = build_point_transforms(transforms)
        self.metainfo = dict(classes=classes)
        self.params = dict(version=self.VERSION, split=split, per_class=int(per_class),
                           num_points=int(num_points), seed=int(seed), classes=list(classes),
                           noise_std=float(noise_std), occlusion_prob=float(occlusion_prob),
                           scale_range=[float(s) for s in scale_range])
        self.generated = False
        self.cache_file = None
        if cache_dir is not None:
            key = hashlib.sha1(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:10]
            self.cache_file = osp.join(
                str(cache_dir), f'synthetic_shapes_{split}_c{len(classes)}x{per_class}'
                f'_p{num_points}_s{seed}_{key}.npz')
        if self.cache_file is not None and osp.isfile(self.cache_file):
            try:
                with np.load(self.cache_file) as data:
                    points, labels = data['points'], data['labels']
            except Exception as e:
                raise InvalidValueError(f'SyntheticShapes: corrupt cache file {self.cache_file!r} '
                                        f'(delete it to regenerate): {e}') from e
            expected = (len(classes) * per_class, self.num_points, 3)
            if points.shape != expected or labels.shape != expected[:1]:
                raise InvalidValueError(f'SyntheticShapes: cache file {self.cache_file!r} holds '
                                        f'points {points.shape}, labels {labels.shape}; expected '
                                        f'{expected} (delete it to regenerate)')
        else:
            points, labels = self._generate(progress)
            self.generated = True
            if self.cache_file is not None:
                buffer = io.BytesIO()
                np.savez(buffer, points=points, labels=labels)
                atomic_write_bytes(buffer.getvalue(), self.cache_file)
        self.points = points
        self.labels = labels.tolist()

    def _generate(self, progress: bool):
        p = self.params
        classes, num = p['classes'], p['per_class'] * len(p['classes'])
        split_id = self.SPLITS.index(p['split'])
        points = np.empty((num, p['num_points'], 3), dtype=np.float32)
        labels = np.arange(num, dtype=np.int64) % len(classes)
        indices = range(num)
        if progress:
            from tqdm import tqdm
            indices = tqdm(indices, desc=f'SyntheticShapes {p["split"]}', unit='shape',
                           leave=False)
        for i in indices:
            rng = np.random.default_rng((p['seed'], split_id, i))
            points[i] = make_synthetic_sample(
                classes[labels[i]], rng, p['num_points'], tuple(p['scale_range']),
                p['noise_std'], p['occlusion_prob'])
        return points, labels

    def _points(self, index: int) -> np.ndarray:
        return self.points[index]
