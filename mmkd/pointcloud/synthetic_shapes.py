"""Synthetic point-cloud shapes: 12 classes built from open3d primitives (box, sphere, table,
chair, lamp, ...), randomly scaled, rotated, noisy and sometimes partially occluded, drawn
deterministically from a generator."""
from typing import List, Sequence

import numpy as np

from .point_files import Mesh, choose_points, normalize_points, sample_surface


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
    points = normalize_points(choose_points(points, num_points, rng))
    points = points + rng.normal(0.0, noise_std, points.shape)
    return points.astype(np.float32)
