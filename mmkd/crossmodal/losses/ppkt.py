"""PPKT: Liu et al., "Learning from 2D: Contrastive Pixel-to-Point Knowledge Transfer for 3D
Pretraining" (arXiv 2104.04687, 2021).

A point and the pixel it projects to in a view (where it is visible) are a positive pair; the
other sampled pixels are its negatives (InfoNCE). The correspondences come from
:func:`mmkd.pointcloud.views.project_depth_views` with ``return_pixels=True``.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.errors import InvalidValueError
from mmkd.registry import LOSSES


def _shape(x) -> str:
    return (f'{x.dtype} tensor of shape {tuple(x.shape)}' if torch.is_tensor(x)
            else type(x).__name__)


def flatten_dense_pairs(pixels: Tensor, visible: Tensor, batch: Optional[Tensor]
                        ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
    """Per-cloud correspondences as a DataLoader collates them (``pixels [B, V, N, 2]``,
    ``visible [B, V, N]``, e.g. from ``PointCloudWithViews(return_pixels=True)``) to the flat
    layout ``[V, B * N, 2]``, ``[V, B * N]`` (point ``n`` of cloud ``b`` at row ``b * N + n``)
    with ``batch = [0] * N + [1] * N + ...`` when not given. Other layouts pass unchanged."""
    if not (torch.is_tensor(pixels) and pixels.dim() == 4 and torch.is_tensor(visible)
            and visible.dim() == 3):
        return pixels, visible, batch
    b, v, n = pixels.shape[:3]
    if tuple(visible.shape) != (b, v, n):
        raise InvalidValueError(f'visible must be a bool mask [B, V, N] = [{b}, {v}, {n}] like '
                                f'pixels [B, V, N, 2], got {_shape(visible)}')
    pixels = pixels.transpose(0, 1).reshape(v, b * n, pixels.shape[-1])
    visible = visible.transpose(0, 1).reshape(v, b * n)
    if batch is None:
        batch = torch.arange(b, device=pixels.device).repeat_interleave(n)
    return pixels, visible, batch


def check_pixel_pairs(student_feats: Tensor, teacher_maps: Tensor, pixels: Tensor,
                      visible: Tensor, batch: Optional[Tensor]) -> Tensor:
    """Validate the inputs of :class:`PointPixelContrastiveLoss` (flat layout, see
    :func:`flatten_dense_pairs`); returns ``batch`` (long)."""
    if not torch.is_tensor(student_feats) or student_feats.dim() != 2:
        raise InvalidValueError('student_feats must be per-point features [N_total, C], got '
                                f'{_shape(student_feats)}')
    n, c = student_feats.shape
    if not torch.is_tensor(teacher_maps) or teacher_maps.dim() != 5:
        raise InvalidValueError('teacher_maps must be per-view feature maps [B, V, C, h, w], got '
                                f'{_shape(teacher_maps)}')
    b, v, c_t = teacher_maps.shape[:3]
    if c_t != c:
        raise InvalidValueError(f'student_feats has {c} channels but teacher_maps has {c_t} (shape '
                                f'{tuple(teacher_maps.shape)}); add a connector on the student '
                                'side')
    if not torch.is_tensor(pixels) or pixels.dim() != 3 or tuple(pixels.shape) != (v, n, 2) \
            or pixels.is_floating_point():
        raise InvalidValueError(f'pixels must be integer (row, col) pixels [V, N_total, 2] = [{v}, '
                                f'{n}, 2] (V of teacher_maps, N_total of student_feats), got '
                                f'{_shape(pixels)}')
    if not torch.is_tensor(visible) or tuple(visible.shape) != (v, n) or \
            visible.dtype != torch.bool:
        raise InvalidValueError(f'visible must be a bool mask [V, N_total] = [{v}, {n}], got '
                                f'{_shape(visible)}')
    if batch is None:
        if b != 1:
            raise InvalidValueError(f'batch is required when teacher_maps holds {b} clouds')
        return torch.zeros(n, dtype=torch.long, device=student_feats.device)
    if not torch.is_tensor(batch) or batch.dim() != 1 or batch.numel() != n or \
            batch.is_floating_point() or batch.dtype == torch.bool:
        raise InvalidValueError(f'batch must be an integer tensor [N_total] = [{n}] (the cloud of '
                                f'every row of student_feats), got {_shape(batch)}')
    if n and (int(batch.min()) < 0 or int(batch.max()) >= b):
        raise InvalidValueError(f'batch names clouds outside [0, {b}) (B of teacher_maps)')
    return batch.long()


@LOSSES.register_module()
class PointPixelContrastiveLoss(nn.Module):
    """PPKT's pixel-to-point InfoNCE.

    Every visible (view ``v``, point ``n``) pair (``visible[v, n]``) is a candidate; ``K =
    min(num_pairs, #visible)`` of them are drawn uniformly without replacement (torch's global
    RNG; all of them, in (view, point) order, when there are at most ``num_pairs``). Pair ``k =
    (v_k, n_k)`` gives the student feature ``s_k = normalize(student_feats[n_k])`` and the
    teacher feature ``t_k = normalize(teacher_maps[batch[n_k], v_k, :, r_k, c_k])`` at the
    point's pixel ``(row, col) = pixels[v_k, n_k]`` scaled to the map's resolution::

        r_k = floor(row * h / H),  c_k = floor(col * w / W)   (H = W = image_size)

    and the loss is the point-to-pixel InfoNCE over the K pairs (other pairs' pixels, from any
    view or cloud, are the negatives)::

        L = -1/K sum_k log( exp(<s_k, t_k> / tau) / sum_j exp(<s_k, t_j> / tau) )

    ``symmetric=True`` averages it with the pixel-to-point direction (anchors ``t_k``). The
    teacher maps are detached. With no visible pair the loss is ``0`` (still connected to
    ``student_feats``, so a backward pass works).

    Args:
        num_pairs: pairs per batch (PPKT: 4096).
        temperature: tau (PPKT: 0.07).
        image_size: ``H`` (= ``W``) of the rendered views the ``pixels`` index; ``None``: the
            teacher maps have the views' resolution.
        symmetric: also the pixel-to-point direction.

    Inputs (through the distiller): ``student_feats [N_total, C]`` (per-point features, e.g.
    ``PointNetClassifier``'s ``encoder`` through a connector to the teacher's C),
    ``teacher_maps [B, V, C, h, w]`` (``MultiViewImageClassifier``'s ``view_maps``), ``pixels
    [V, N_total, 2]`` and ``visible [V, N_total]`` (``project_depth_views(...,
    return_pixels=True)`` of the same points, e.g. batch fields the dataset provides) and
    ``batch [N_total]`` (cloud of every point; dense ``[B, N, 3]`` input has ``N_total = B * N``,
    point ``n`` of cloud ``b`` at row ``b * N + n``). The per-cloud layout a DataLoader collates,
    ``pixels [B, V, N, 2]`` and ``visible [B, V, N]`` (``PointCloudWithViews(...,
    return_pixels=True)``'s ``batch.pixels`` and ``batch.visible``), is accepted as well; then
    ``batch`` may be omitted.
    """

    def __init__(self, num_pairs: int = 4096, temperature: float = 0.07,
                 image_size: Optional[int] = None, symmetric: bool = False) -> None:
        super().__init__()
        if int(num_pairs) != num_pairs or num_pairs < 1:
            raise InvalidValueError(f'num_pairs must be a positive int, got {num_pairs!r}')
        if temperature <= 0:
            raise InvalidValueError(f'temperature must be > 0, got {temperature}')
        self.num_pairs = int(num_pairs)
        self.temperature = float(temperature)
        self.image_size = None if image_size is None else int(image_size)
        self.symmetric = symmetric

    def forward(self, student_feats: Tensor, teacher_maps: Tensor, pixels: Tensor,
                visible: Tensor, batch: Optional[Tensor] = None) -> Tensor:
        pixels, visible, batch = flatten_dense_pairs(pixels, visible, batch)
        batch = check_pixel_pairs(student_feats, teacher_maps, pixels, visible, batch)
        h, w = teacher_maps.shape[-2:]
        size_h = h if self.image_size is None else self.image_size
        size_w = w if self.image_size is None else self.image_size
        view_idx, point_idx = visible.to(student_feats.device).nonzero(as_tuple=True)
        if view_idx.numel() == 0:
            return student_feats.sum() * 0.0
        if view_idx.numel() > self.num_pairs:
            keep = torch.randperm(view_idx.numel())[:self.num_pairs].to(view_idx.device)
            view_idx, point_idx = view_idx[keep], point_idx[keep]
        pix = pixels.to(student_feats.device)[view_idx, point_idx].long()  # [K, 2]
        rows = torch.div(pix[:, 0] * h, size_h, rounding_mode='floor').clamp(0, h - 1)
        cols = torch.div(pix[:, 1] * w, size_w, rounding_mode='floor').clamp(0, w - 1)
        with torch.no_grad():
            maps = teacher_maps.detach().to(student_feats.dtype)
            t = F.normalize(maps[batch[point_idx], view_idx, :, rows, cols], dim=1)  # [K, C]
        s = F.normalize(student_feats[point_idx], dim=1)
        logits = s @ t.t() / self.temperature
        labels = torch.arange(logits.shape[0], device=logits.device)
        loss = F.cross_entropy(logits, labels)
        if self.symmetric:
            loss = (loss + F.cross_entropy(logits.t(), labels)) / 2
        return loss
