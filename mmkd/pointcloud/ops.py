"""Neighbour search for point clouds in plain PyTorch: ``fps``, ``knn``, ``knn_graph``,
``radius`` and ``radius_graph`` with the signatures and index conventions of
``torch_geometric.nn.pool`` (which needs pyg-lib / torch-cluster, not installable here).

A batch is PyG's: all points stacked in one ``[N, D]`` tensor plus a sorted ``batch`` vector
naming the cloud of each point. Every op pads the ragged batch into a dense ``[B, N_max, D]``
tensor with a mask and works on all clouds at once: no Python loop over points or clouds (FPS
loops once over the number of samples; kNN and radius loop over chunks of query points only
when the distance matrix would otherwise be large).

Conventions (as in PyG):

* ``knn(x, y, k)`` / ``radius(x, y, r)`` return ``[2, E]`` with row 0 an index into ``y`` (the
  query) and row 1 an index into ``x``. Edges are grouped by query in order of the query index,
  and within a query sorted by ascending distance.
* ``knn_graph`` / ``radius_graph`` return an ``edge_index``; with ``flow='source_to_target'``
  row 0 is the neighbour (source ``j``) and row 1 the centre (target ``i``), so messages in a
  ``MessagePassing`` layer flow neighbour -> centre.
* ``fps`` returns indices into ``pos``: per cloud ``ceil(ratio * n_i)`` points, grouped by cloud,
  in the order they were picked.

Differences from PyG worth knowing: ``radius`` returns the *nearest* ``max_num_neighbors``
points within ``r`` (PyG returns the first ones its search finds); "within" means distance
``< r`` (strict, as torch-cluster). With ``loop=False`` the graphs exclude each point itself by
index and still give up to ``k`` (``max_num_neighbors``) other points, where PyG asks for
``k + 1`` and drops the self edge afterwards (same result unless points are duplicated).
``fps`` names its first argument ``pos`` (PyG: ``x``).
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor

from mmkd.errors import InvalidValueError

__all__ = ['fps', 'knn', 'knn_graph', 'radius', 'radius_graph']

# Upper bound on the elements of one padded distance block [B, queries, N_max] (64 MB float32).
_MAX_BLOCK = 1 << 24


def _check_points(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise InvalidValueError(f'{name} must be a torch.Tensor, got {type(x).__name__}')
    if x.dim() == 1:
        x = x.unsqueeze(-1)
    if x.dim() != 2:
        raise InvalidValueError(f'{name} must be 2-D [num_points, num_dims] (e.g. [N, 3]), got '
                                f'shape {tuple(x.shape)}')
    if not x.is_floating_point():
        raise InvalidValueError(f'{name} must be a floating-point tensor, got {x.dtype}')
    return x


def _check_batch(batch: Optional[Tensor], num_points: int, name: str,
                 points_name: str) -> Tensor:
    if batch is None:
        return torch.zeros(num_points, dtype=torch.long)
    if not isinstance(batch, Tensor):
        raise InvalidValueError(f'{name} must be a torch.Tensor or None, got '
                                f'{type(batch).__name__}')
    if batch.dim() != 1 or batch.numel() != num_points:
        raise InvalidValueError(f'{name} must be 1-D with one entry per point of {points_name} '
                                f'({num_points}), got shape {tuple(batch.shape)}')
    if batch.is_floating_point() or batch.dtype == torch.bool:
        raise InvalidValueError(f'{name} must be an integer tensor, got {batch.dtype}')
    batch = batch.long()
    if num_points and int(batch.min()) < 0:
        raise InvalidValueError(f'{name} must be non-negative')
    if num_points > 1 and bool((batch[1:] < batch[:-1]).any()):
        raise InvalidValueError(f'{name} must be sorted (points of one cloud contiguous, clouds in '
                                'increasing order)')
    return batch


def _check_k(k: int, name: str = 'k') -> int:
    if isinstance(k, bool) or not isinstance(k, int) and not (
            isinstance(k, Tensor) and k.numel() == 1):
        raise InvalidValueError(f'{name} must be an int >= 1, got {k!r}')
    k = int(k)
    if k < 1:
        raise InvalidValueError(f'{name} must be >= 1, got {k}')
    return k


def _to_dense(x: Tensor, batch: Tensor, counts: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
    """Pad ``x`` into ``[B, n_max, D]`` and the mask of real points (``None`` when every cloud
    has ``n_max`` points: then the dense tensor is a view of ``x``, no copy)."""
    num_clouds = counts.numel()
    n_max = int(counts.max()) if num_clouds else 0
    if num_clouds * n_max == x.size(0):
        return x.view(num_clouds, n_max, x.size(1)), None
    ptr = counts.cumsum(0) - counts
    flat_idx = batch * n_max + torch.arange(x.size(0), device=x.device) - ptr[batch]
    dense = x.new_zeros(num_clouds * n_max, x.size(1)).index_copy_(0, flat_idx, x)
    mask = torch.zeros(num_clouds * n_max, dtype=torch.bool, device=x.device)
    mask[flat_idx] = True
    return dense.view(num_clouds, n_max, -1), mask.view(num_clouds, n_max)


def _num_clouds(*batches: Tensor) -> int:
    return max((int(b.max()) + 1 for b in batches if b.numel()), default=0)


@torch.no_grad()
def _nearest(x: Tensor, y: Tensor, k: int, batch_x: Tensor, batch_y: Tensor,
             exclude_self: bool = False, r: Optional[float] = None) -> Tensor:
    """For each row of ``y``, its ``k`` nearest rows of ``x`` in the same cloud (within ``r``
    when given), as ``[2, E]`` (row 0 into ``y``, row 1 into ``x``), sorted by query then
    distance. ``exclude_self`` (x is y) drops each point itself.

    Candidates are ranked by ``|x|^2 - 2 x.y`` on per-cloud centred coordinates (one batched
    matmul, then ``topk``; ``torch.cdist`` uses the same form by default), i.e. the squared
    distance up to float rounding (~1e-7 of the squared cloud radius): near-ties within that
    may come out in either order (pass float64 for more). The ``< r`` test uses exact
    distances.
    """
    if x.size(0) == 0 or y.size(0) == 0:
        return torch.empty(2, 0, dtype=torch.long, device=x.device)
    num_clouds = _num_clouds(batch_x, batch_y)
    counts_x = torch.bincount(batch_x, minlength=num_clouds)
    counts_y = torch.bincount(batch_y, minlength=num_clouds)
    ptr_x = counts_x.cumsum(0) - counts_x
    ptr_y = counts_y.cumsum(0) - counts_y
    dense_x, mask_x = _to_dense(x, batch_x, counts_x)
    dense_y, mask_y = _to_dense(y, batch_y, counts_y)
    n_x, n_y = dense_x.size(1), dense_y.size(1)
    k = min(k, n_x)
    # Centre each cloud on the mean of its x points: the matmul form then loses precision
    # relative to the cloud's own extent, not to its distance from the origin.
    centre = dense_x.sum(1, keepdim=True) / counts_x.clamp(min=1).view(-1, 1, 1).to(x.dtype)
    dense_x = dense_x - centre
    dense_y = dense_y - centre
    if mask_x is not None:
        dense_x = dense_x.masked_fill(~mask_x.unsqueeze(2), 0)
    sq_x = (dense_x * dense_x).sum(-1)
    if mask_x is not None:
        sq_x = sq_x.masked_fill(~mask_x, math.inf)  # padding is never among the nearest
    sq_x = sq_x.unsqueeze(1)
    xt = dense_x.transpose(1, 2)
    # Every candidate is real and distinct from the query: no masking needed afterwards.
    all_valid = (mask_x is None and mask_y is None and r is None and not exclude_self
                 and bool((counts_x >= k).all()))
    chunk = max(1, _MAX_BLOCK // max(1, num_clouds * n_x))
    rows, cols = [], []
    for start in range(0, n_y, chunk):
        q = dense_y[:, start:start + chunk]
        n_q = q.size(1)
        score = torch.baddbmm(sq_x, q, xt, alpha=-2)  # [B, n_q, n_x]
        if exclude_self:
            idx = torch.arange(n_q, device=x.device)
            score[:, idx, start + idx] = math.inf
        val, nbr = score.topk(k, dim=2, largest=False)  # sorted by distance, [B, n_q, k]
        if all_valid:
            rows.append((ptr_y.view(-1, 1, 1) + start +
                         torch.arange(n_q, device=x.device).view(1, -1, 1)).expand_as(nbr))
            cols.append(nbr + ptr_x.view(-1, 1, 1))
            continue
        valid = val.isfinite()
        if mask_y is not None:
            valid &= mask_y[:, start:start + chunk].unsqueeze(2)
        if r is not None:
            cand = dense_x.gather(1, nbr.reshape(num_clouds, -1, 1).expand(-1, -1, x.size(1)))
            d = (cand.view(num_clouds, n_q, k, -1) - q.unsqueeze(2)).pow_(2).sum(-1)
            valid &= d < r * r  # strict, as torch-cluster
        b_idx, q_idx, j_idx = valid.nonzero(as_tuple=True)  # row-major: by cloud, query, rank
        rows.append(ptr_y[b_idx] + start + q_idx)
        cols.append(ptr_x[b_idx] + nbr[b_idx, q_idx, j_idx])
    if len(rows) == 1:
        return torch.stack([rows[0].reshape(-1), cols[0].reshape(-1)])
    # Chunks interleave clouds: put the queries back in index order (stable keeps the ranks).
    row = torch.cat([t.reshape(-1) for t in rows])
    col = torch.cat([t.reshape(-1) for t in cols])
    perm = torch.sort(row, stable=True)[1]
    return torch.stack([row[perm], col[perm]])


def _check_query(x: Tensor, y: Tensor, batch_x: Optional[Tensor],
                 batch_y: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Checked ``x, y, batch_x, batch_y`` of a query of ``y`` points against ``x`` points."""
    x = _check_points(x, 'x')
    y = _check_points(y, 'y')
    if x.size(1) != y.size(1):
        raise InvalidValueError(f'x and y must have the same number of dimensions, got {x.size(1)} '
                                f'and {y.size(1)}')
    return (x, y, _check_batch(batch_x, x.size(0), 'batch_x', 'x').to(x.device),
            _check_batch(batch_y, y.size(0), 'batch_y', 'y').to(x.device))


def knn(x: Tensor, y: Tensor, k: int, batch_x: Optional[Tensor] = None,
        batch_y: Optional[Tensor] = None, cosine: bool = False, num_workers: int = 1,
        batch_size: Optional[int] = None) -> Tensor:
    """For each point of ``y`` its ``k`` nearest points of ``x`` in the same cloud.

    Returns ``[2, E]``: row 0 indexes ``y``, row 1 indexes ``x`` (PyG's convention); a cloud
    of ``x`` with fewer than ``k`` points gives all of them. ``num_workers`` and ``batch_size``
    are accepted for PyG compatibility and ignored.
    """
    if cosine:
        raise NotImplementedError('knn(cosine=True) is not supported; normalise x and y and use '
                                  'the Euclidean distance instead')
    x, y, batch_x, batch_y = _check_query(x, y, batch_x, batch_y)
    return _nearest(x, y, _check_k(k), batch_x, batch_y)


def _graph(x: Tensor, k: int, batch: Optional[Tensor], loop: bool, flow: str,
           r: Optional[float]) -> Tensor:
    if flow not in ('source_to_target', 'target_to_source'):
        raise InvalidValueError("flow must be 'source_to_target' or 'target_to_source', got "
                                f"{flow!r}")
    x = _check_points(x, 'x')
    batch = _check_batch(batch, x.size(0), 'batch', 'x').to(x.device)
    centre, nbr = _nearest(x, x, k, batch, batch, exclude_self=not loop, r=r)
    if flow == 'source_to_target':
        return torch.stack([nbr, centre])
    return torch.stack([centre, nbr])


def knn_graph(x: Tensor, k: int, batch: Optional[Tensor] = None, loop: bool = False,
              flow: str = 'source_to_target', cosine: bool = False, num_workers: int = 1,
              batch_size: Optional[int] = None) -> Tensor:
    """The k-nearest-neighbour graph of ``x`` as PyG's ``edge_index``.

    With ``flow='source_to_target'`` row 0 is the neighbour (source ``j``) and row 1 the centre
    (target ``i``); ``'target_to_source'`` swaps them. ``loop=False`` leaves out each point itself
    (still up to ``k`` other neighbours); ``loop=True`` counts it among the ``k``.
    """
    if cosine:
        raise NotImplementedError('knn_graph(cosine=True) is not supported')
    return _graph(x, _check_k(k), batch, loop, flow, None)


def _check_r(r: float) -> float:
    if isinstance(r, Tensor):
        r = float(r)
    if not isinstance(r, (int, float)) or isinstance(r, bool) or not r >= 0:
        raise InvalidValueError(f'r must be a number >= 0, got {r!r}')
    return float(r)


def radius(x: Tensor, y: Tensor, r: float, batch_x: Optional[Tensor] = None,
           batch_y: Optional[Tensor] = None, max_num_neighbors: int = 32, num_workers: int = 1,
           batch_size: Optional[int] = None) -> Tensor:
    """For each point of ``y`` the points of ``x`` of the same cloud at distance ``< r``.

    Returns ``[2, E]``: row 0 indexes ``y``, row 1 indexes ``x``. At most ``max_num_neighbors``
    per query point: the *nearest* ones (PyG returns whichever its search finds first).
    """
    x, y, batch_x, batch_y = _check_query(x, y, batch_x, batch_y)
    return _nearest(x, y, _check_k(max_num_neighbors, 'max_num_neighbors'), batch_x, batch_y,
                    r=_check_r(r))


def radius_graph(x: Tensor, r: float, batch: Optional[Tensor] = None, loop: bool = False,
                 max_num_neighbors: int = 32, flow: str = 'source_to_target',
                 num_workers: int = 1, batch_size: Optional[int] = None) -> Tensor:
    """The graph linking points of one cloud at distance ``< r``, as PyG's ``edge_index``
    (see :func:`knn_graph` for ``flow`` and ``loop``); at most ``max_num_neighbors`` nearest
    neighbours per centre."""
    return _graph(x, _check_k(max_num_neighbors, 'max_num_neighbors'), batch, loop, flow,
                  _check_r(r))


@torch.no_grad()
def fps(pos: Tensor, batch: Optional[Tensor] = None, ratio: float = 0.5,
        random_start: bool = True, batch_size: Optional[int] = None) -> Tensor:
    """Farthest point sampling: indices into ``pos`` of ``ceil(ratio * n_i)`` points per cloud,
    grouped by cloud in the order picked. Each pick is the point farthest (Euclidean) from those
    already picked in its cloud, starting from a random point (``random_start=True``, drawn with
    torch's global generator) or from the cloud's first point. All clouds advance together: one
    loop over the number of samples.
    """
    pos = _check_points(pos, 'pos')
    batch = _check_batch(batch, pos.size(0), 'batch', 'pos').to(pos.device)
    if isinstance(ratio, Tensor):
        ratio = float(ratio)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
        raise InvalidValueError(f'ratio must be in (0, 1], got {ratio!r}')
    if pos.size(0) == 0:
        return torch.empty(0, dtype=torch.long, device=pos.device)
    num_clouds = _num_clouds(batch)
    counts = torch.bincount(batch, minlength=num_clouds)
    ptr = counts.cumsum(0) - counts
    n_max = int(counts.max())
    # Coordinates as D planes [B, N_max], built one coordinate at a time: every op in the loop
    # below then runs over B * N_max elements without [B, N, D] temporaries (small ops stay
    # single-threaded, which also keeps them cheap on a busy machine).
    flat_idx = batch * n_max + torch.arange(pos.size(0), device=pos.device) - ptr[batch]
    planes_list = []
    for dim in range(pos.size(1)):
        plane = pos.new_zeros(num_clouds * n_max)
        plane.index_copy_(0, flat_idx, pos[:, dim])
        planes_list.append(plane.view(num_clouds, n_max))
    num_samples = torch.ceil(counts.double() * ratio).long()  # 0 for an empty cloud
    steps = int(num_samples.max())
    if random_start:
        cur = (torch.rand(num_clouds, device=pos.device) * counts).long()
        cur = torch.minimum(cur, (counts - 1).clamp(min=0))
    else:
        cur = torch.zeros(num_clouds, dtype=torch.long, device=pos.device)
    # Squared distance to the nearest picked point; padding is -inf so it is never picked.
    min_d = pos.new_full((num_clouds * n_max,), -math.inf)
    min_d.index_fill_(0, flat_idx, math.inf)
    min_d = min_d.view(num_clouds, n_max)
    flat = torch.stack([plane.view(-1) for plane in planes_list])  # [D, B * N_max]
    offset = torch.arange(num_clouds, device=pos.device) * n_max
    picked = [cur]
    for _ in range(steps - 1):
        p = flat.index_select(1, offset + cur).unsqueeze(2)  # [D, B, 1]
        diff = planes_list[0] - p[0]
        d = diff.mul_(diff)
        for dim in range(1, len(planes_list)):
            diff = planes_list[dim] - p[dim]
            d.addcmul_(diff, diff)
        torch.minimum(min_d, d, out=min_d)
        cur = min_d.argmax(dim=1)
        picked.append(cur)
    picked = torch.stack(picked, dim=1)
    keep = torch.arange(steps, device=pos.device).unsqueeze(0) < num_samples.unsqueeze(1)
    return (picked + ptr.unsqueeze(1))[keep]
