"""Reading point clouds and meshes from files (``.off`` with numpy, ``.ply``/``.obj``/``.stl`` and
``.pcd``/``.ply``/``.xyz`` with open3d, ``.npy``), and sampling points on a mesh's surface with
numpy (not open3d's RNG), so results are reproducible for a seed.

open3d is imported lazily, only inside the functions that read meshes (it is known to crash in
forked DataLoader workers and with some torch/open3d import orders)."""
import os
from typing import Tuple

import numpy as np

from mmkd.errors import InvalidValueError


Mesh = Tuple[np.ndarray, np.ndarray]  # vertices float64 [V, 3], triangles int64 [F, 3]


def sample_surface(vertices: np.ndarray, triangles: np.ndarray, num_points: int,
                   rng: np.random.Generator) -> np.ndarray:
    """``num_points`` points uniformly on a triangle mesh's surface (area weighted), float64."""
    tri = vertices[triangles]  # [F, 3, 3]
    areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise InvalidValueError('mesh has zero surface area')
    face = rng.choice(len(tri), size=num_points, p=areas / total)
    r1 = np.sqrt(rng.random(num_points))
    r2 = rng.random(num_points)
    a, b, c = tri[face, 0], tri[face, 1], tri[face, 2]
    return ((1 - r1)[:, None] * a + (r1 * (1 - r2))[:, None] * b + (r1 * r2)[:, None] * c)


def normalize_points(points: np.ndarray) -> np.ndarray:
    centred = points - points.mean(axis=0, keepdims=True)
    scale = np.linalg.norm(centred, axis=1).max()
    return centred / scale if scale > 0 else centred


def choose_points(points: np.ndarray, num_points: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``num_points`` rows: without replacement if possible, else all plus repeats."""
    n = len(points)
    if n >= num_points:
        return points[rng.permutation(n)[:num_points]]
    index = np.concatenate([np.arange(n), rng.integers(0, n, num_points - n)])
    return points[rng.permutation(index)]


def _parse_off(path: str) -> Mesh:
    """Plain-python OFF reader, used when open3d cannot read a file; also accepts the header
    glued to the counts (``OFF490 518 0``) found in many ModelNet files."""
    with open(path, 'rb') as f:
        text = f.read().decode('ascii')
    tokens = [line.split('#', 1)[0].split() for line in text.splitlines()]
    tokens = [t for line in tokens for t in line]
    if not tokens or not tokens[0].startswith('OFF'):
        raise InvalidValueError('no OFF header')
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
            raise InvalidValueError('truncated face list')
        faces.extend([idx[0], idx[i], idx[i + 1]] for i in range(1, k - 1))  # fan
        pos += 1 + k
    triangles = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(triangles) and (triangles.min() < 0 or triangles.max() >= nv):
        raise InvalidValueError('face index out of range')
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
        raise InvalidValueError(f'cannot read a triangle mesh from {path!r} (the file is empty, '
                                f'corrupt or has no faces)')
    if not np.isfinite(vertices).all():
        raise InvalidValueError(f'mesh {path!r} has non-finite vertex coordinates')
    return vertices, triangles


def read_points(path: str) -> np.ndarray:
    """An ``[N, 3]`` float64 array from a .npy (first three columns) or any point-cloud file
    open3d reads (.ply, .pcd, .xyz, ...). Raises ValueError naming ``path`` when unreadable/empty.
    """
    if os.path.getsize(path) == 0:
        raise InvalidValueError(f'point-cloud file {path!r} is empty')
    if path.lower().endswith('.npy'):
        try:
            points = np.load(path, allow_pickle=False)
        except Exception as e:
            raise InvalidValueError(f'cannot read a numpy array from {path!r}: {e}') from e
        if points.ndim != 2 or points.shape[1] < 3 or not np.issubdtype(points.dtype, np.number):
            raise InvalidValueError(f'{path!r}: expected a numeric array of shape [N, >=3], got '
                                    f'{points.dtype} {points.shape}')
        points = np.asarray(points[:, :3], dtype=np.float64)
    else:
        import open3d as o3d
        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
            try:
                points = np.asarray(o3d.io.read_point_cloud(path).points, dtype=np.float64)
            except Exception as e:
                raise InvalidValueError(f'cannot read a point cloud from {path!r}: {e}') from e
    if len(points) == 0:
        raise InvalidValueError(f'cannot read a point cloud from {path!r} (no points: the file is '
                                f'empty, corrupt or in an unsupported format)')
    if not np.isfinite(points).all():
        raise InvalidValueError(f'point cloud {path!r} has non-finite coordinates')
    return points
