"""Point-cloud classification datasets.

* ``SyntheticShapes``: 12 classes of noisy, randomly scaled/rotated, sometimes partially occluded
  shapes built from open3d primitives; generated once (deterministically for a seed) into a
  ``.npz`` cache per split.
* ``ModelNetFolder``: ModelNet layout ``root/<class>/{train,test}/*.off``.
* ``PointCloudFolder``: ``root/<class>/*.{ply,pcd,xyz,npy}``.

Items are ``dict(inputs=FloatTensor[num_points, 3], data_samples=dict(labels=int,
sample_idx=index))`` after the optional ``transforms`` (see ``mmkd.pointcloud.transforms``), so
``default_collate`` stacks a batch to ``[B, num_points, 3]``.

open3d is imported lazily, only inside the functions that read meshes or build primitives (it is
known to crash in forked DataLoader workers and with some torch/open3d import orders). Files read
by ``ModelNetFolder``/``PointCloudFolder`` are loaded on first access and kept in memory; pass
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

from mmkd.fileio import atomic_write_bytes
from mmkd.registry import DATASETS

from .transforms import build_point_transforms

__all__ = ['SyntheticShapes', 'ModelNetFolder', 'PointCloudFolder', 'sample_surface',
           'read_mesh', 'read_points']

Mesh = Tuple[np.ndarray, np.ndarray]  # vertices float64 [V, 3], triangles int64 [F, 3]


# ----------------------------------------------------------------------------- sampling helpers
def sample_surface(vertices: np.ndarray, triangles: np.ndarray, num_points: int,
                   rng: np.random.Generator) -> np.ndarray:
    """``num_points`` points uniformly on a triangle mesh's surface (area weighted), float64."""
    tri = vertices[triangles]  # [F, 3, 3]
    areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise ValueError('mesh has zero surface area')
    face = rng.choice(len(tri), size=num_points, p=areas / total)
    r1 = np.sqrt(rng.random(num_points))
    r2 = rng.random(num_points)
    a, b, c = tri[face, 0], tri[face, 1], tri[face, 2]
    return ((1 - r1)[:, None] * a + (r1 * (1 - r2))[:, None] * b + (r1 * r2)[:, None] * c)


def _normalize(points: np.ndarray) -> np.ndarray:
    centred = points - points.mean(axis=0, keepdims=True)
    scale = np.linalg.norm(centred, axis=1).max()
    return centred / scale if scale > 0 else centred


def _choose(points: np.ndarray, num_points: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``num_points`` rows: without replacement if possible, else all plus repeats."""
    n = len(points)
    if n >= num_points:
        return points[rng.permutation(n)[:num_points]]
    index = np.concatenate([np.arange(n), rng.integers(0, n, num_points - n)])
    return points[rng.permutation(index)]


def _file_rng(path: str, root: str) -> np.random.Generator:
    """A generator seeded from the file's path relative to ``root`` (stable across machines)."""
    rel = osp.relpath(path, root).replace(os.sep, '/')
    return np.random.default_rng(zlib.crc32(rel.encode('utf-8')))


# ----------------------------------------------------------------------------- file readers
def _parse_off(path: str) -> Mesh:
    """Plain-python OFF reader, used when open3d cannot read a file; also accepts the header
    glued to the counts (``OFF490 518 0``) found in many ModelNet files."""
    with open(path, 'rb') as f:
        text = f.read().decode('ascii')
    tokens = [line.split('#', 1)[0].split() for line in text.splitlines()]
    tokens = [t for line in tokens for t in line]
    if not tokens or not tokens[0].startswith('OFF'):
        raise ValueError('no OFF header')
    head = tokens[0][3:]
    rest = ([head] if head else []) + tokens[1:]
    nv, nf = int(rest[0]), int(rest[1])
    pos = 3
    vertices = np.asarray(rest[pos:pos + 3 * nv], dtype=np.float64).reshape(nv, 3)
    pos += 3 * nv
    faces = []
    for _ in range(nf):
        k = int(rest[pos])
        idx = [int(v) for v in rest[pos + 1:pos + 1 + k]]
        if len(idx) != k:
            raise ValueError('truncated face list')
        faces.extend([idx[0], idx[i], idx[i + 1]] for i in range(1, k - 1))  # fan
        pos += 1 + k
    triangles = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(triangles) and (triangles.min() < 0 or triangles.max() >= nv):
        raise ValueError('face index out of range')
    return vertices, triangles


def read_mesh(path: str) -> Mesh:
    """Vertices and triangles of a mesh file (open3d, with a fallback OFF parser).

    Raises ValueError naming ``path`` for unreadable, empty or triangle-less meshes.
    """
    import open3d as o3d
    vertices = triangles = None
    if os.path.getsize(path) > 0:
        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
            try:
                mesh = o3d.io.read_triangle_mesh(path)
                vertices = np.asarray(mesh.vertices, dtype=np.float64)
                triangles = np.asarray(mesh.triangles, dtype=np.int64)
            except Exception:  # open3d raises RuntimeError on some malformed files
                vertices = triangles = None
        if (vertices is None or len(triangles) == 0) and path.lower().endswith('.off'):
            try:
                vertices, triangles = _parse_off(path)
            except Exception:
                vertices = triangles = None
    if vertices is None or len(vertices) == 0 or len(triangles) == 0:
        raise ValueError(f'cannot read a triangle mesh from {path!r} (the file is empty, '
                         f'corrupt or has no faces)')
    if not np.isfinite(vertices).all():
        raise ValueError(f'mesh {path!r} has non-finite vertex coordinates')
    return vertices, triangles


def read_points(path: str) -> np.ndarray:
    """An ``[N, 3]`` float64 array from a .npy (first three columns) or any point-cloud file
    open3d reads (.ply, .pcd, .xyz, ...). Raises ValueError naming ``path`` when unreadable/empty.
    """
    if os.path.getsize(path) == 0:
        raise ValueError(f'point-cloud file {path!r} is empty')
    if path.lower().endswith('.npy'):
        try:
            points = np.load(path, allow_pickle=False)
        except Exception as e:
            raise ValueError(f'cannot read a numpy array from {path!r}: {e}') from e
        if points.ndim != 2 or points.shape[1] < 3 or not np.issubdtype(points.dtype, np.number):
            raise ValueError(f'{path!r}: expected a numeric array of shape [N, >=3], got '
                             f'{points.dtype} {points.shape}')
        points = np.asarray(points[:, :3], dtype=np.float64)
    else:
        import open3d as o3d
        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
            try:
                points = np.asarray(o3d.io.read_point_cloud(path).points, dtype=np.float64)
            except Exception as e:
                raise ValueError(f'cannot read a point cloud from {path!r}: {e}') from e
    if len(points) == 0:
        raise ValueError(f'cannot read a point cloud from {path!r} (no points: the file is '
                         f'empty, corrupt or in an unsupported format)')
    if not np.isfinite(points).all():
        raise ValueError(f'point cloud {path!r} has non-finite coordinates')
    return points


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
            raise IndexError(f'{type(self).__name__}: index {index} out of range for '
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
            raise FileNotFoundError(f'{type(self).__name__}: root {root!r} is not a directory')
        if classes is None:
            classes = sorted(d for d in os.listdir(root)
                             if osp.isdir(osp.join(root, d)) and not d.startswith('.'))
            if not classes:
                raise FileNotFoundError(f'{type(self).__name__}: no class folders in {root!r} '
                                        f'(expected {what})')
        else:
            classes = list(classes)
            missing = [c for c in classes if not osp.isdir(osp.join(root, c))]
            if missing:
                raise FileNotFoundError(f'{type(self).__name__}: class folders {missing} not '
                                        f'found in {root!r}')
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
            raise FileNotFoundError(f'{type(self).__name__}: no {"/".join(exts)} files in '
                                    f'{root!r} (expected {what})')
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
            raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
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
            raise ValueError(f'cannot sample points from mesh {path!r}: {e}') from e
        if self.normalize:
            points = _normalize(points)
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
        points = _choose(read_points(path), self.num_points, _file_rng(path, self.root))
        if self.normalize:
            points = _normalize(points)
        return points.astype(np.float32)


# ----------------------------------------------------------------------------- synthetic shapes
def _o3d_mesh(mesh) -> Mesh:
    return (np.asarray(mesh.vertices, dtype=np.float64).copy(),
            np.asarray(mesh.triangles, dtype=np.int64).copy())


def _merge(parts: Sequence[Mesh]) -> Mesh:
    vertices, triangles, offset = [], [], 0
    for v, t in parts:
        vertices.append(v)
        triangles.append(t + offset)
        offset += len(v)
    return np.concatenate(vertices), np.concatenate(triangles)


def _shift(mesh: Mesh, xyz) -> Mesh:
    return mesh[0] + np.asarray(xyz, dtype=np.float64), mesh[1]


def _keep_faces(mesh: Mesh, keep: np.ndarray) -> Mesh:
    return mesh[0], mesh[1][keep]


def _box(w, d, h) -> Mesh:
    import open3d as o3d
    v, t = _o3d_mesh(o3d.geometry.TriangleMesh.create_box(w, d, h))
    return v - np.array([w, d, h]) / 2, t  # centred


def _sphere(r, resolution=16) -> Mesh:
    import open3d as o3d
    return _o3d_mesh(o3d.geometry.TriangleMesh.create_sphere(r, resolution))


def _cylinder(r, h, caps=True, resolution=24) -> Mesh:
    """Axis z, centred at the origin; ``caps=False`` drops the two end discs."""
    import open3d as o3d
    mesh = _o3d_mesh(o3d.geometry.TriangleMesh.create_cylinder(r, h, resolution, 2))
    if not caps:
        z = mesh[0][mesh[1]][:, :, 2]  # [F, 3]
        mesh = _keep_faces(mesh, ~(np.ptp(z, axis=1) < 1e-9))
    return mesh


def _cone(r, h, resolution=24) -> Mesh:
    """Base disc at z=0, apex at z=h."""
    import open3d as o3d
    return _o3d_mesh(o3d.geometry.TriangleMesh.create_cone(r, h, resolution, 1))


def _hemisphere(r, up=True) -> Mesh:
    v, t = _sphere(r)
    z = v[t][:, :, 2]
    keep = (z >= -1e-9).all(1) if up else (z <= 1e-9).all(1)
    return v, t[keep]


def _legs(rng, half_x, half_y, height, radius) -> List[Mesh]:
    return [_shift(_cylinder(radius, height), (sx * half_x, sy * half_y, height / 2))
            for sx in (-1, 1) for sy in (-1, 1)]


def _shape_box(rng):
    return _box(*rng.uniform(0.5, 1.5, 3))


def _shape_sphere(rng):
    return _sphere(1.0, 20)


def _shape_cylinder(rng):
    return _cylinder(rng.uniform(0.3, 0.8), rng.uniform(0.8, 2.0))


def _shape_cone(rng):
    return _cone(rng.uniform(0.4, 1.0), rng.uniform(0.8, 2.0))


def _shape_torus(rng):
    import open3d as o3d
    return _o3d_mesh(o3d.geometry.TriangleMesh.create_torus(
        1.0, rng.uniform(0.15, 0.45), 30, 16))


def _shape_capsule(rng):
    r, h = rng.uniform(0.3, 0.7), rng.uniform(0.1, 1.5)
    return _merge([_cylinder(r, h, caps=False), _shift(_hemisphere(r, True), (0, 0, h / 2)),
                   _shift(_hemisphere(r, False), (0, 0, -h / 2))])


def _shape_table(rng):
    w, d, t = rng.uniform(1.2, 2.0), rng.uniform(0.8, 1.5), rng.uniform(0.05, 0.15)
    height = rng.uniform(0.6, 1.2)
    inset = rng.uniform(0.05, 0.15)
    top = _shift(_box(w, d, t), (0, 0, height + t / 2))
    return _merge([top] + _legs(rng, w / 2 - inset, d / 2 - inset, height,
                                rng.uniform(0.03, 0.08)))


def _shape_chair(rng):
    w, d, t = rng.uniform(0.8, 1.1), rng.uniform(0.8, 1.1), rng.uniform(0.05, 0.12)
    height, back = rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.2)
    seat = _shift(_box(w, d, t), (0, 0, height + t / 2))
    backrest = _shift(_box(w, t, back), (0, -d / 2 + t / 2, height + t + back / 2))
    return _merge([seat, backrest] + _legs(rng, w / 2 - 0.05, d / 2 - 0.05, height,
                                           rng.uniform(0.03, 0.06)))


def _shape_lamp(rng):
    base_r, base_h = rng.uniform(0.3, 0.5), rng.uniform(0.05, 0.12)
    pole_h = rng.uniform(1.0, 1.8)
    shade_r, shade_h = rng.uniform(0.35, 0.6), rng.uniform(0.3, 0.6)
    base = _shift(_cylinder(base_r, base_h), (0, 0, base_h / 2))
    pole = _shift(_cylinder(rng.uniform(0.02, 0.05), pole_h), (0, 0, base_h + pole_h / 2))
    shade = _shift(_cone(shade_r, shade_h), (0, 0, base_h + pole_h - shade_h * 0.3))
    return _merge([base, pole, shade])


def _shape_mushroom(rng):
    stem_r, stem_h = rng.uniform(0.12, 0.3), rng.uniform(0.5, 1.0)
    cap_r, squash = rng.uniform(0.5, 1.0), rng.uniform(0.4, 0.9)
    v, t = _hemisphere(cap_r, True)
    v = v * np.array([1.0, 1.0, squash])
    underside = _cylinder(cap_r, 1e-3)
    return _merge([_cylinder(stem_r, stem_h, caps=False),
                   _shift((v, t), (0, 0, stem_h / 2)), _shift(underside, (0, 0, stem_h / 2))])


def _shape_arrow(rng):
    import open3d as o3d
    cyl_h, cone_h = rng.uniform(0.8, 1.6), rng.uniform(0.3, 0.7)
    cyl_r = rng.uniform(0.05, 0.15)
    v, t = _o3d_mesh(o3d.geometry.TriangleMesh.create_arrow(
        cyl_r, cyl_r * rng.uniform(1.6, 3.0), cyl_h, cone_h, 20, 4, 1))
    return v - np.array([0, 0, (cyl_h + cone_h) / 2]), t


def _shape_octahedron(rng):
    import open3d as o3d
    return _o3d_mesh(o3d.geometry.TriangleMesh.create_octahedron(1.0))


SHAPES = dict(box=_shape_box, sphere=_shape_sphere, cylinder=_shape_cylinder, cone=_shape_cone,
              torus=_shape_torus, capsule=_shape_capsule, table=_shape_table,
              chair=_shape_chair, lamp=_shape_lamp, mushroom=_shape_mushroom,
              arrow=_shape_arrow, octahedron=_shape_octahedron)


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.standard_normal(4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def make_synthetic_sample(name: str, rng: np.random.Generator, num_points: int,
                          scale_range=(0.7, 1.3), noise_std=0.01, occlusion_prob=0.3,
                          occlusion_range=(0.1, 0.4)) -> np.ndarray:
    """One noisy ``[num_points, 3]`` cloud (float32, unit sphere) of shape ``name``."""
    vertices, triangles = SHAPES[name](rng)
    vertices = (vertices * rng.uniform(*scale_range, 3)) @ _rotation(rng).T
    points = sample_surface(vertices, triangles, 2 * num_points, rng)
    if rng.random() < occlusion_prob:  # drop everything beyond a random plane
        normal = rng.standard_normal(3)
        proj = points @ (normal / np.linalg.norm(normal))
        points = points[proj <= np.quantile(proj, 1 - rng.uniform(*occlusion_range))]
    points = _normalize(_choose(points, num_points, rng))
    points = points + rng.normal(0.0, noise_std, points.shape)
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
        split: ``'train'`` or ``'test'``.
        num_train_per_class / num_test_per_class: samples per class in each split.
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

    def __init__(self, split: str = 'train', num_train_per_class: int = 80,
                 num_test_per_class: int = 20, num_points: int = 1024, seed: int = 0,
                 cache_dir: Optional[str] = 'work_dirs/data/synthetic_shapes',
                 transforms=None, classes: Optional[Sequence[str]] = None,
                 noise_std: float = 0.01, occlusion_prob: float = 0.3,
                 scale_range: Tuple[float, float] = (0.7, 1.3), progress: bool = True) -> None:
        if split not in ('train', 'test'):
            raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
        classes = self.CLASSES if classes is None else tuple(classes)
        unknown = [c for c in classes if c not in SHAPES]
        if unknown or not classes:
            raise ValueError(f'classes: unknown shapes {unknown} (known: {list(SHAPES)})')
        per_class = num_train_per_class if split == 'train' else num_test_per_class
        if per_class < 1 or num_points < 1:
            raise ValueError(f'need >= 1 sample per class and point, got {per_class} per class '
                             f'and num_points={num_points}')
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
                raise ValueError(f'SyntheticShapes: corrupt cache file {self.cache_file!r} '
                                 f'(delete it to regenerate): {e}') from e
            expected = (len(classes) * per_class, self.num_points, 3)
            if points.shape != expected or labels.shape != expected[:1]:
                raise ValueError(f'SyntheticShapes: cache file {self.cache_file!r} holds points '
                                 f'{points.shape}, labels {labels.shape}; expected {expected} '
                                 f'(delete it to regenerate)')
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
        split_id = 0 if p['split'] == 'train' else 1
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
