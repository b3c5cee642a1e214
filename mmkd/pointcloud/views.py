"""Multi-view depth images of point clouds and meshes, for cross-modal (image -> point)
distillation.

An image teacher (a CNN on rendered views, or a CLIP image tower) sees a 3D sample through a few
depth images; a point-cloud student sees the points. This module renders those images:

* :func:`project_depth_views`: PointCLIP-style depth maps of point clouds in plain PyTorch,
  batched over clouds, views and points (no Python loop over points): a hard z-buffer
  (``scatter_reduce`` with ``'amax'`` of the near = bright intensity into every point's pixel,
  then a max filter for square splats), or a soft, differentiable Gaussian splatting with
  front-to-back alpha compositing (``differentiable=True``). Optionally returns the pixel of
  every point in every view and whether it is visible there (the point-to-pixel pairs a
  PPKT-style contrastive loss needs).
* :func:`render_mesh_depth`: the same views of a triangle mesh by ray casting with open3d's
  ``o3d.t.geometry.RaycastingScene`` (CPU, no OpenGL).
* :class:`PointCloudWithViews`: a dataset wrapper (registered in ``DATASETS``) adding the views of
  each item's points to its ``data_samples``.
* :func:`save_view_grid`: a PNG grid of views (samples x views).

Conventions (shared by both renderers, so their images are comparable pixel for pixel)
-------------------------------------------------------------------------------------
World axes are those of the data: ``z`` is up (SyntheticShapes stand on ``z``), ``-y`` is the
front. Every view ``v`` is an orthonormal camera frame ``R[v]`` (rows: image right, image up,
towards the camera) returned by :func:`view_rotations`; a point ``p`` has camera coordinates
``(u, w, z_c) = R[v] @ p``. The projection is orthographic: the image covers the square
``[-extent, extent]^2`` of ``(u, w)`` (default ``extent=1``: the unit sphere's silhouette);
``image[row, col]`` covers ``u`` in ``[-e + col * 2e/W, -e + (col + 1) * 2e/W)`` and ``w`` in
``(e - (row + 1) * 2e/H, e - row * 2e/H]`` (row 0 is the top of the picture, col 0 its left).

* ``views='cube'`` (default): up to six axis-aligned views, in this order: ``front`` (camera
  at ``-y``; right = ``+x``, up = ``+z``), ``right`` (camera at ``+x``; right = ``+y``, up =
  ``+z``), ``back`` (camera at ``+y``; right = ``-x``, up = ``+z``), ``left`` (camera at ``-x``;
  right = ``-y``, up = ``+z``), ``top`` (camera at ``+z``, looking down; right = ``+x``, up =
  ``+y``) and ``bottom`` (camera at ``-z``, looking up; right = ``+x``, up = ``-y``);
  ``num_views < 6`` takes the first ``num_views`` of them.
* ``views='ring'``: ``num_views`` cameras at azimuths ``360 * k / num_views`` degrees
  (counter-clockwise seen from above, azimuth 0 = front, 90 = right) and a fixed ``elevation``
  (degrees above the horizon, default 30), the image up pointing towards ``+z``. With
  ``num_views=4, elevation=0`` the ring is exactly the cube's first four views.
* A ``[V, 3, 3]`` tensor of camera frames (rows right, up, towards the camera) is also accepted.

Depth is measured from the camera plane ``z_c = 1`` (tangent to the unit sphere):
``depth = 1 - z_c`` in ``[0, 2]`` for points in the unit sphere. It is mapped to an intensity
``1 - (1 - min_intensity) * clamp(depth, 0, 2) / 2``: near = bright (1 at the front of the
sphere), ``min_intensity`` (default 0.2) at its back, so far surfaces stay distinguishable from the
background, which is 0 (pixels no point / no ray hits).

open3d is imported lazily, only inside :func:`render_mesh_depth` (it is known to crash in forked
DataLoader workers and with some import orders); everything else is plain torch and is safe in
DataLoader workers. matplotlib is imported only inside :func:`save_view_grid`.
"""
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from mmkd.errors import InvalidValueError, WrongTypeError
from mmkd.fileio import save_figure
from mmkd.registry import DATASETS

__all__ = ['CUBE_VIEWS', 'view_rotations', 'view_names', 'project_depth_views',
           'render_mesh_depth', 'point_item', 'PointCloudWithViews', 'save_view_grid']

# name -> rows (image right, image up, towards the camera); right x up = towards (right-handed)
CUBE_VIEWS: Dict[str, Tuple[Tuple[float, float, float], ...]] = {
    'front': ((1, 0, 0), (0, 0, 1), (0, -1, 0)),
    'right': ((0, 1, 0), (0, 0, 1), (1, 0, 0)),
    'back': ((-1, 0, 0), (0, 0, 1), (0, 1, 0)),
    'left': ((0, -1, 0), (0, 0, 1), (-1, 0, 0)),
    'top': ((1, 0, 0), (0, 1, 0), (0, 0, 1)),
    'bottom': ((1, 0, 0), (0, -1, 0), (0, 0, -1)),
}

ViewsLike = Union[str, Tensor]


def view_rotations(num_views: int = 6, views: ViewsLike = 'cube',
                   elevation: float = 30.0) -> Tensor:
    """Camera frames ``[V, 3, 3]`` (float64; rows: image right, image up, towards the camera) of
    the view set (see the module docstring): ``'cube'``, ``'ring'`` or an explicit tensor."""
    if isinstance(views, Tensor):
        if views.dim() != 3 or views.shape[1:] != (3, 3):
            raise InvalidValueError('views: expected a [V, 3, 3] tensor of camera frames, got '
                                    f'{tuple(views.shape)}')
        return views.double()
    if int(num_views) != num_views or num_views < 1:
        raise InvalidValueError(f'num_views must be a positive int, got {num_views!r}')
    num_views = int(num_views)
    if views == 'cube':
        if num_views > len(CUBE_VIEWS):
            raise InvalidValueError(f"views='cube' has {len(CUBE_VIEWS)} views, got num_views="
                                    f"{num_views} (use views='ring' for more)")
        return torch.tensor([CUBE_VIEWS[n] for n in list(CUBE_VIEWS)[:num_views]],
                            dtype=torch.float64)
    if views == 'ring':
        azim = torch.arange(num_views, dtype=torch.float64) * (2 * math.pi / num_views)
        elev = torch.full_like(azim, math.radians(elevation))
        towards = torch.stack([azim.sin() * elev.cos(), -azim.cos() * elev.cos(), elev.sin()], 1)
        right = torch.stack([azim.cos(), azim.sin(), torch.zeros_like(azim)], 1)
        up = torch.cross(towards, right, dim=1)
        return torch.stack([right, up, towards], 1)
    raise InvalidValueError(f"views: expected 'cube', 'ring' or a [V, 3, 3] tensor, got {views!r}")


def view_names(num_views: int = 6, views: ViewsLike = 'cube', elevation: float = 30.0
               ) -> List[str]:
    """Human-readable names of the views (``'front'``, ... or ``'az45 el30'``)."""
    if isinstance(views, Tensor):
        return [f'view {i}' for i in range(views.shape[0])]
    if views == 'cube':
        return list(CUBE_VIEWS)[:num_views]
    return [f'az{360 * k / num_views:g} el{elevation:g}' for k in range(num_views)]


def _intensity(depth: Tensor, min_intensity: float) -> Tensor:
    return 1 - (1 - min_intensity) * depth.clamp(0, 2) / 2


def _parse_points(points: Tensor, batch: Optional[Tensor], num_clouds: Optional[int]
                  ) -> Tuple[Tensor, Tensor, int]:
    """``(pos [N, 3] float, batch [N] long, num_clouds)`` from dense ``[B, N, 3]`` or ragged."""
    if not isinstance(points, Tensor):
        raise WrongTypeError(f'points: expected a torch.Tensor, got {type(points).__name__}')
    if not points.is_floating_point():
        points = points.float()
    if points.dim() == 3:
        if points.shape[2] != 3:
            raise InvalidValueError('points: expected [B, N, 3] or [N, 3], got '
                                    f'{tuple(points.shape)}')
        if batch is not None:
            raise InvalidValueError('batch must be None for dense [B, N, 3] points')
        b, n = points.shape[:2]
        batch = torch.arange(b, device=points.device).repeat_interleave(n)
        if num_clouds is not None and num_clouds != b:
            raise InvalidValueError(f'num_clouds={num_clouds} but dense points hold {b} clouds')
        return points.reshape(b * n, 3), batch, b
    if points.dim() != 2 or points.shape[1] != 3:
        raise InvalidValueError(f'points: expected [B, N, 3] or [N, 3], got {tuple(points.shape)}')
    if batch is None:
        batch = torch.zeros(points.shape[0], dtype=torch.long, device=points.device)
    elif (not isinstance(batch, Tensor) or batch.dim() != 1 or batch.numel() != points.shape[0]
          or batch.is_floating_point() or batch.dtype == torch.bool):
        got = (f'{tuple(batch.shape)} {batch.dtype}' if isinstance(batch, Tensor)
               else type(batch).__name__)
        raise InvalidValueError(f'batch: expected an integer tensor of shape [{points.shape[0]}], '
                                f'got {got}')
    batch = batch.long().to(points.device)
    if batch.numel() and int(batch.min()) < 0:
        raise InvalidValueError('batch: cloud indices must be >= 0')
    found = int(batch.max()) + 1 if batch.numel() else (1 if num_clouds is None else 0)
    if num_clouds is None:
        num_clouds = found
    elif num_clouds < found:
        raise InvalidValueError(f'num_clouds={num_clouds} but batch names cloud {found - 1}')
    return points, batch, int(num_clouds)


def _square_offsets(r: int, device) -> Tuple[Tensor, Tensor]:
    d = torch.arange(-r, r + 1, device=device)
    return d.repeat_interleave(2 * r + 1), d.repeat(2 * r + 1)  # (drow [K], dcol [K])


def _dilate(images: Tensor, r: int) -> Tensor:
    """Separable ``(2r+1) x (2r+1)`` max filter of non-negative ``[M, H, W]`` images (zero
    padding); faster than ``max_pool2d`` on CPU."""
    for dim in (1, 2):
        out = images.clone()
        n = images.shape[dim]
        for k in range(1, min(r, n - 1) + 1):
            torch.maximum(out.narrow(dim, k, n - k), images.narrow(dim, 0, n - k),
                          out=out.narrow(dim, k, n - k))
            torch.maximum(out.narrow(dim, 0, n - k), images.narrow(dim, k, n - k),
                          out=out.narrow(dim, 0, n - k))
        images = out
    return images


def project_depth_views(points: Tensor, batch: Optional[Tensor] = None, num_views: int = 6,
                        image_size: int = 64, radius: int = 1, views: ViewsLike = 'cube',
                        elevation: float = 30.0, extent: float = 1.0,
                        min_intensity: float = 0.2, differentiable: bool = False,
                        sigma: float = 0.5, return_pixels: bool = False,
                        num_clouds: Optional[int] = None):
    """Orthographic multi-view depth images of point clouds, ``[B, V, 1, H, W]`` (``H = W =
    image_size``), near = bright, background 0 (conventions in the module docstring).

    Args:
        points: dense ``[B, N, 3]``, or ragged ``[N_total, 3]`` with ``batch``.
        batch: ``[N_total]`` cloud index of every point (PyG style; any order). None: one cloud.
        num_views, views, elevation: the view set (:func:`view_rotations`).
        image_size: pixels per side.
        radius: splat radius in pixels: each point paints the ``(2r+1) x (2r+1)`` square of
            pixels around its own (0: one pixel), so sparse clouds give solid silhouettes. Square
            splats are what the soft mode converges to.
        extent: half-width of the imaged square in world units (1 covers the unit sphere);
            points whose own pixel falls outside the image are not drawn (neither are their
            splats) and are never visible.
        min_intensity: intensity of depth 2 (the back of the unit sphere).
        differentiable: soft rendering, differentiable w.r.t. the coordinates (Gaussian
            splatting with a soft z-buffer): every point is a Gaussian blob (std ``sigma``
            pixels) whose coverage ``f`` of a pixel is the blob's mass inside the pixel's splat
            square (``2r+1`` pixels wide); a pixel's points are alpha-composited front to back,
            ``sum_i f_i I_i prod_{j nearer than i} (1 - f_j)``, so a point occludes a pixel as
            much as it covers it, and an uncovered pixel is 0. Gradients reach the coordinates
            through ``f`` (image position) and ``I`` (depth). As ``sigma -> 0`` it tends to
            the hard image. Much slower than the hard mode (a window of ``(2r + 2 ceil(3
            sigma) + 1)^2`` pixels per point and view, and a sort).
        return_pixels: also return ``pixels`` (LongTensor ``[V, N_total, 2]``: (row, col) of
            every point's own pixel in every view, clamped into the image) and ``visible``
            (BoolTensor ``[V, N_total]``: the point is in the image and the hard image's value
            at its pixel is its own intensity, i.e. nothing nearer, including the splats of
            neighbouring points when ``radius > 0``, covers it). For dense input
            ``N_total = B * N`` (point ``n`` of cloud ``b`` is row ``b * N + n``). Pixels and
            visibility come from the hard rule in both modes.
        num_clouds: B for ragged input (default ``batch.max() + 1``; more gives empty images).

    Returns:
        ``images`` or ``(images, pixels, visible)``; hard images carry no gradient (they are
        computed from detached coordinates), soft ones do.
    """
    pos, batch, num_b = _parse_points(points, batch, num_clouds)
    size = int(image_size)
    if size != image_size or size < 1:
        raise InvalidValueError(f'image_size must be a positive int, got {image_size!r}')
    r = int(radius)
    if r != radius or r < 0:
        raise InvalidValueError(f'radius must be an int >= 0, got {radius!r}')
    if extent <= 0:
        raise InvalidValueError(f'extent must be > 0, got {extent}')
    rot = view_rotations(num_views, views, elevation).to(device=pos.device, dtype=pos.dtype)
    num_v = rot.shape[0]
    hw = size * size

    cam = torch.einsum('vij,nj->vni', rot, pos)  # [V, N, 3]
    scale = size / (2 * extent)
    x = (cam[..., 0] + extent) * scale  # continuous column coordinate; pixel j is [j, j + 1)
    y = (extent - cam[..., 1]) * scale  # continuous row coordinate
    intensity = _intensity(1 - cam[..., 2], min_intensity)  # [V, N]
    row, col = y.detach().floor().long(), x.detach().floor().long()
    in_frame = (row >= 0) & (row < size) & (col >= 0) & (col < size)
    base = (batch.unsqueeze(0) * num_v + torch.arange(num_v, device=pos.device).unsqueeze(1)) * hw
    trash = num_b * num_v * hw  # one extra slot collects everything outside the images

    slots = (base, trash, size)
    flat = None  # the hard images (trash slot last): the output, or the pixels' visibility
    if not differentiable or return_pixels:
        flat = _hard_splats(row, col, in_frame, intensity.detach(), slots, r, num_b * num_v)
    if differentiable:
        images = _soft_splats(x, y, row, col, in_frame, intensity, slots, r, sigma)
    else:
        images = flat[:-1]
    images = images.view(num_b, num_v, 1, size, size)

    if not return_pixels:
        return images
    centre = torch.where(in_frame, base + row * size + col, trash)
    visible = in_frame & (flat[centre] == intensity.detach())
    pixels = torch.stack([row.clamp(0, size - 1), col.clamp(0, size - 1)], dim=-1)
    return images, pixels, visible


def _hard_splats(row: Tensor, col: Tensor, in_frame: Tensor, intensity: Tensor,
                 slots: Tuple[Tensor, int, int], r: int, num_images: int) -> Tensor:
    """The hard images, flat, with the trash slot last: a z-buffer keeps the nearest
    (brightest) point of every pixel, then square splats act as a max filter (exactly the max
    over the points whose own pixel is within ``r``, in Chebyshev distance, since the background
    0 is below every intensity)."""
    base, trash, size = slots
    index = torch.where(in_frame, base + row * size + col, trash).reshape(-1)
    out = torch.zeros(trash + 1, dtype=intensity.dtype, device=intensity.device)
    out.scatter_reduce_(0, index, intensity.reshape(-1), 'amax', include_self=True)
    if r > 0:
        out = torch.cat([_dilate(out[:-1].view(num_images, size, size), r).reshape(-1),
                         out[-1:]])
    return out


def _soft_splats(x: Tensor, y: Tensor, row: Tensor, col: Tensor, in_frame: Tensor,
                 intensity: Tensor, slots: Tuple[Tensor, int, int], r: int,
                 sigma: float) -> Tensor:
    """The soft images, flat (Gaussian splats alpha-composited front to back; see
    :func:`project_depth_views`), differentiable w.r.t. ``x``, ``y`` and ``intensity``."""
    base, trash, size = slots
    if sigma <= 0:
        raise InvalidValueError(f'sigma must be > 0, got {sigma}')
    window = r + int(math.ceil(3 * sigma))
    # points in front-to-back order within every view (all window entries of a point share
    # its depth), so one stable sort by pixel later gives per-pixel depth order
    near = torch.argsort(intensity.detach(), dim=1, descending=True, stable=True)  # [V, N]
    xs, ys, value = x.gather(1, near), y.gather(1, near), intensity.gather(1, near)
    rows, cols = row.gather(1, near).unsqueeze(-1), col.gather(1, near).unsqueeze(-1)
    drow, dcol = _square_offsets(window, x.device)
    rr, cc = rows + drow, cols + dcol  # [V, N, K]
    ok = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size) & \
        in_frame.gather(1, near).unsqueeze(-1)
    index = base.gather(1, near).unsqueeze(-1) + rr * size + cc
    half = r + 0.5
    c = 1 / (math.sqrt(2) * sigma)

    def box(d: Tensor) -> Tensor:  # mass of N(0, sigma^2) in [d - half, d + half]
        return 0.5 * (torch.erf((half - d) * c) + torch.erf((half + d) * c))

    f = box(cc + 0.5 - xs.unsqueeze(-1)) * box(rr + 0.5 - ys.unsqueeze(-1))  # [V, N, K]
    keep = ok & (f.detach() > 1e-12)  # truncation: drops entries with f < 1e-12
    index, f = index[keep], f[keep]
    value = value.unsqueeze(-1).expand_as(keep)[keep]
    order = torch.argsort(index, stable=True)
    index, f, value = index[order], f[order], value[order]
    # transmittance in front of each entry: exp(sum of log(1 - f) over the nearer entries
    # of its pixel) = a global exclusive cumulative sum (float64) minus its value at the
    # pixel's first entry (gathered, so gradients of other pixels' entries cancel exactly)
    log_t = torch.log1p(-f.clamp(max=1 - 1e-6)).double()
    before = torch.cumsum(log_t, 0) - log_t
    position = torch.arange(index.numel(), device=x.device)
    starts = torch.ones_like(index, dtype=torch.bool)
    starts[1:] = index[1:] != index[:-1]
    start = torch.cummax(torch.where(starts, position, 0), 0).values
    transmittance = (before - before[start]).exp().to(f.dtype)
    out = torch.zeros(trash + 1, dtype=x.dtype, device=x.device)
    out = out.scatter_add(0, index, f * transmittance * value)
    return out[:-1]


# ----------------------------------------------------------------------------- meshes
def _as_tensor_mesh(mesh):
    """An ``o3d.t.geometry.TriangleMesh`` from a tensor mesh, a legacy mesh or a
    ``(vertices [V, 3], triangles [F, 3])`` pair (as in ``mmkd.pointcloud.datasets``)."""
    import open3d as o3d
    if isinstance(mesh, o3d.t.geometry.TriangleMesh):
        tmesh = mesh
    elif isinstance(mesh, o3d.geometry.TriangleMesh):
        tmesh = o3d.t.geometry.TriangleMesh.from_legacy(mesh)
    elif isinstance(mesh, (tuple, list)) and len(mesh) == 2:
        vertices = np.ascontiguousarray(np.asarray(mesh[0], dtype=np.float32))
        triangles = np.ascontiguousarray(np.asarray(mesh[1], dtype=np.int32))
        if vertices.ndim != 2 or vertices.shape[1] != 3 or triangles.ndim != 2 or \
                triangles.shape[1] != 3:
            raise InvalidValueError('mesh: expected vertices [V, 3] and triangles [F, 3], got '
                                    f'{vertices.shape} and {triangles.shape}')
        tmesh = o3d.t.geometry.TriangleMesh()
        tmesh.vertex.positions = o3d.core.Tensor(vertices)
        tmesh.triangle.indices = o3d.core.Tensor(triangles)
    else:
        raise WrongTypeError('mesh: expected an open3d TriangleMesh (legacy or tensor) or a '
                             f'(vertices, triangles) pair, got {type(mesh).__name__}')
    if 'positions' not in tmesh.vertex or 'indices' not in tmesh.triangle or \
            len(tmesh.triangle.indices) == 0:
        raise InvalidValueError('mesh has no triangles')
    if tmesh.vertex.positions.dtype != o3d.core.float32:
        tmesh = tmesh.clone()
        tmesh.vertex.positions = tmesh.vertex.positions.to(o3d.core.float32)
    return tmesh


def render_mesh_depth(mesh, num_views: int = 6, image_size: int = 64,
                      views: ViewsLike = 'cube', elevation: float = 30.0, extent: float = 1.0,
                      min_intensity: float = 0.2, return_depth: bool = False) -> np.ndarray:
    """Depth images ``[V, H, W]`` (float32) of a triangle mesh by ray casting with open3d's
    ``RaycastingScene`` (CPU): one orthographic ray through every pixel centre of every view,
    the first hit's depth mapped to the intensity of :func:`project_depth_views` (same views,
    pixel grid, depth origin and near = bright mapping), misses 0. The mesh is used as is
    (normalise it to the unit sphere first, as the point clouds are).

    ``mesh``: ``o3d.t.geometry.TriangleMesh``, ``o3d.geometry.TriangleMesh`` or a ``(vertices,
    triangles)`` pair. ``return_depth=True`` returns the raw depth ``1 - z_c`` instead (inf for
    misses).
    """
    import open3d as o3d
    tmesh = _as_tensor_mesh(mesh)
    size = int(image_size)
    if size != image_size or size < 1:
        raise InvalidValueError(f'image_size must be a positive int, got {image_size!r}')
    rot = view_rotations(num_views, views, elevation).numpy()  # [V, 3, 3]
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(tmesh)
    reach = float(np.abs(tmesh.vertex.positions.numpy()).max()) * math.sqrt(3)
    start = max(1.0, reach) + 1.0  # rays start on the plane z_c = start, outside the mesh
    centres = -extent + (np.arange(size) + 0.5) * (2 * extent / size)
    u = np.broadcast_to(centres[None, :], (size, size))  # column -> right
    w = np.broadcast_to(centres[::-1, None], (size, size))  # row 0 is the top
    right, up, towards = rot[:, 0], rot[:, 1], rot[:, 2]  # [V, 3]
    origins = (u[None, ..., None] * right[:, None, None] + w[None, ..., None] * up[:, None, None]
               + start * towards[:, None, None])  # [V, H, W, 3]
    directions = np.broadcast_to(-towards[:, None, None], origins.shape)
    rays = np.concatenate([origins, directions], -1).astype(np.float32)
    t_hit = scene.cast_rays(o3d.core.Tensor(np.ascontiguousarray(rays)))['t_hit'].numpy()
    depth = t_hit.astype(np.float64) - (start - 1.0)  # distance from the plane z_c = 1
    if return_depth:
        return depth.astype(np.float32)
    hit = np.isfinite(depth)
    image = np.where(hit, 1 - (1 - min_intensity) * np.clip(np.where(hit, depth, 0), 0, 2) / 2, 0)
    return image.astype(np.float32)


# ----------------------------------------------------------------------------- dataset wrapper
def point_item(item: Any, where: str) -> Tuple[Tensor, Dict]:
    """``(points, data_samples)`` of a point dataset's item ``dict(inputs=[N, 3 + F],
    data_samples=dict(...))``: the points as a tensor and a copy of ``data_samples`` (``{}`` when
    absent), for the wrappers that add rendered views; ``TypeError`` naming ``where`` for
    anything else."""
    if not isinstance(item, dict) or 'inputs' not in item:
        raise WrongTypeError(f'{where}: expected items dict(inputs=[N, 3], '
                             f'data_samples=dict(...)), got {type(item).__name__}')
    points = item['inputs']
    if isinstance(points, np.ndarray):
        points = torch.from_numpy(points)
    return points, dict(item.get('data_samples') or {})


@DATASETS.register_module()
class PointCloudWithViews(Dataset):
    """A point-cloud dataset whose items also carry depth views of their points.

    Items are the wrapped dataset's items with ``data_samples['views'] =
    FloatTensor[V, 1, H, W]`` added: :func:`project_depth_views` (hard mode) of ``inputs``
    *after* the wrapped dataset's transforms, so the image teacher sees the same augmented
    cloud as the student (all of its points; the student the first ``num_points`` of them when
    that is set). For a point dataset of ``mmkd.pointcloud.datasets``::

        dict(inputs=FloatTensor[N, 3],
             data_samples=dict(labels=int, sample_idx=int, views=FloatTensor[V, 1, H, W]))

    and ``mmengine.dataset.default_collate`` makes ``inputs [B, N, 3]``, ``data_samples['views']
    [B, V, 1, H, W]``. Rendering is plain torch (no open3d), so it runs in DataLoader workers.

    With ``return_pixels=True`` the items also carry the point-to-pixel correspondences of
    ``project_depth_views(..., return_pixels=True)``: ``data_samples['pixels'] = LongTensor[V, N,
    2]`` ((row, col) of every point in every view) and ``data_samples['visible'] =
    BoolTensor[V, N]``, collated to ``[B, V, N, 2]`` and ``[B, V, N]``, the dense layout that
    :class:`~mmkd.crossmodal.losses.PointPixelContrastiveLoss` takes (point ``n`` of cloud ``b``
    is row ``b * N + n`` of a PointNet's per-point features). Every cloud of a batch needs the
    same N (e.g. a ``SamplePoints`` transform).

    Args:
        dataset: the wrapped dataset, or its config dict (built with ``DATASETS``).
        num_views, image_size, radius, views, elevation, extent, min_intensity: passed to
            :func:`project_depth_views`.
        return_pixels: also add ``pixels`` and ``visible`` (see above).
        inputs: ``'points'`` (default, as above) or ``'views'``: items are ``dict(inputs=views
            [V, 1, H, W], data_samples=...)`` without the points, to train or evaluate the image
            teacher on its own (``MultiViewImageClassifier``).
        num_points: keep only the first ``num_points`` points in ``inputs`` after rendering
            the views from all of them (None: keep all): the image teacher sees a denser sample
            of the surface than the point student, as a camera's depth image would. ``pixels``
            and ``visible`` are those of the kept points (visibility is judged in the dense
            views). Put a random ``SamplePoints`` in the wrapped dataset's transforms so that
            the first points are a random subset.
    """

    def __init__(self, dataset, num_views: int = 6, image_size: int = 64, radius: int = 1,
                 views: str = 'cube', elevation: float = 30.0, extent: float = 1.0,
                 min_intensity: float = 0.2, return_pixels: bool = False,
                 inputs: str = 'points', num_points: Optional[int] = None) -> None:
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.return_pixels = bool(return_pixels)
        if inputs not in ('points', 'views'):
            raise InvalidValueError("PointCloudWithViews.inputs: expected 'points' or 'views', "
                                    "got "
                                    f'{inputs!r}')
        self.inputs = inputs
        if num_points is not None and (int(num_points) != num_points or num_points < 1):
            raise InvalidValueError('PointCloudWithViews.num_points: expected None or a positive '
                                    f'int, got {num_points!r}')
        self.num_points = None if num_points is None else int(num_points)
        view_rotations(num_views, views, elevation)  # validate now, not in a worker
        self.render_cfg = dict(num_views=num_views, image_size=image_size, radius=radius,
                               views=views, elevation=elevation, extent=extent,
                               min_intensity=min_intensity)
        self.view_names = view_names(num_views, views, elevation)
        self.metainfo = dict(getattr(self.dataset, 'metainfo', {}) or {})
        self.metainfo['view_names'] = tuple(self.view_names)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Dict:
        item = self.dataset[index]
        points, data_samples = point_item(item, 'PointCloudWithViews')
        if self.num_points is not None and points.shape[0] < self.num_points:
            raise InvalidValueError(f'PointCloudWithViews: item {index} has {points.shape[0]} '
                                    f'points, fewer than num_points={self.num_points}')
        keep = slice(None) if self.num_points is None else slice(0, self.num_points)
        with torch.no_grad():
            out = project_depth_views(points.float()[:, :3], return_pixels=self.return_pixels,
                                      **self.render_cfg)
        if self.return_pixels:
            views, pixels, visible = out
            data_samples['pixels'], data_samples['visible'] = pixels[:, keep], visible[:, keep]
        else:
            views = out
        item = dict(item, inputs=points[keep])
        if self.inputs == 'views':
            return dict(item, inputs=views[0], data_samples=data_samples)
        data_samples['views'] = views[0]
        return dict(item, data_samples=data_samples)

    def __repr__(self) -> str:
        return (f'PointCloudWithViews({self.dataset!r}, {self.render_cfg}, '
                f'return_pixels={self.return_pixels}, inputs={self.inputs!r}, '
                f'num_points={self.num_points})')


# ----------------------------------------------------------------------------- pictures
def save_view_grid(views, titles: Sequence[str], path: str,
                   view_titles: Optional[Sequence[str]] = None, panel_size: float = 1.6,
                   dpi: int = 100, cmap: str = 'gray') -> str:
    """Write a PNG grid of depth views: one row per sample (``titles[i]`` on its left), one
    column per view (``view_titles`` on top, default the cube view names when there are <= 6
    views). ``views``: ``[S, V, 1, H, W]`` or ``[S, V, H, W]`` (tensor or array), values in
    ``[0, 1]``. Written atomically; returns ``path``."""
    if isinstance(views, Tensor):
        views = views.detach().cpu().numpy()
    views = np.asarray(views, dtype=np.float32)
    if views.ndim == 5 and views.shape[2] == 1:
        views = views[:, :, 0]
    if views.ndim != 4 or views.shape[0] == 0 or views.shape[1] == 0:
        raise InvalidValueError('save_view_grid: expected views [S, V, 1, H, W] or [S, V, H, W], '
                                f'got {views.shape}')
    rows, cols = views.shape[:2]
    if len(titles) != rows:
        raise InvalidValueError(f'save_view_grid: {rows} samples but {len(titles)} titles')
    if view_titles is None:
        view_titles = list(CUBE_VIEWS)[:cols] if cols <= len(CUBE_VIEWS) else \
            [f'view {j}' for j in range(cols)]

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(cols * panel_size + 0.9, rows * panel_size + 0.3), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False)
    for i in range(rows):
        for j in range(cols):
            ax = axes[i, j]
            ax.imshow(views[i, j], cmap=cmap, vmin=0.0, vmax=1.0, interpolation='nearest')
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(view_titles[j], fontsize=9)
            if j == 0:
                ax.set_ylabel(titles[i], fontsize=9)
    fig.subplots_adjust(left=0.9 / (cols * panel_size + 0.9), right=0.99, bottom=0.01,
                        top=1 - 0.3 / (rows * panel_size + 0.3), wspace=0.05, hspace=0.05)
    return save_figure(fig, path, dpi)
