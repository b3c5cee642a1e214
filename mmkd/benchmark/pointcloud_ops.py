"""Batched point-cloud neighbour ops (:mod:`mmkd.pointcloud`) against the per-cloud code a user
writes first: a Python loop over the clouds of a batch, FPS by the iterative min-distance
update per cloud, kNN by ``torch.cdist`` + ``topk`` per cloud.

Both sides get the same batch (``num_clouds`` clouds of ``num_points`` random points in the unit
cube, PyG layout: stacked points + sorted ``batch`` vector) and are timed call by call in turn
(:func:`mmkd.benchmark.timing.interleaved_repeats`). kNN is PointNet++ grouping: the
queries are the FPS-sampled points, the candidates all points of the same cloud.
``speedup = baseline / ours`` (median seconds).
"""
import math
import statistics
from typing import Any, Dict, List

import torch

from mmkd.errors import StateError
from mmkd.benchmark.timing import interleaved_repeats
from mmkd.pointcloud import fps, knn


def baseline_fps(pos: torch.Tensor, ptr: List[int], ratio: float) -> torch.Tensor:
    """Per-cloud FPS from each cloud's first point: loop over clouds, then over samples."""
    out = []
    for start, end in zip(ptr[:-1], ptr[1:]):
        cloud = pos[start:end]
        num = math.ceil(ratio * cloud.size(0))
        picked = torch.empty(num, dtype=torch.long)
        min_d = torch.full((cloud.size(0),), math.inf, dtype=pos.dtype)
        cur = 0
        for step in range(num):
            picked[step] = cur
            min_d = torch.minimum(min_d, ((cloud - cloud[cur]) ** 2).sum(1))
            cur = int(min_d.argmax())
        out.append(picked + start)
    return torch.cat(out)


def baseline_knn(pos: torch.Tensor, ptr: List[int], query: torch.Tensor,
                 query_ptr: List[int], k: int) -> torch.Tensor:
    """Per-cloud kNN: ``torch.cdist`` + ``topk``; ``[2, E]`` (row 0 into query, row 1 into pos)."""
    rows, cols = [], []
    for i in range(len(ptr) - 1):
        cloud, q = pos[ptr[i]:ptr[i + 1]], query[query_ptr[i]:query_ptr[i + 1]]
        kk = min(k, cloud.size(0))
        nbr = torch.cdist(q, cloud).topk(kk, dim=1, largest=False)[1]
        rows.append(torch.arange(q.size(0)).repeat_interleave(kk) + query_ptr[i])
        cols.append(nbr.reshape(-1) + ptr[i])
    return torch.stack([torch.cat(rows), torch.cat(cols)])


def measure_pointcloud_ops(num_clouds: int = 16, num_points: int = 1024, ratio: float = 0.25,
                           k: int = 16, repeats: int = 5, iters: int = 5,
                           seed: int = 0) -> Dict[str, Any]:
    """Median seconds per call (per repeat the median of ``iters`` interleaved calls, then the
    median over repeats) of batched ``fps``/``knn`` and the per-cloud baselines, with
    ``speedup = baseline / ours`` per op (from the medians; per repeat in ``speedups``)."""
    gen = torch.Generator().manual_seed(seed)
    pos = torch.rand(num_clouds * num_points, 3, generator=gen)
    batch = torch.arange(num_clouds).repeat_interleave(num_points)
    ptr = [i * num_points for i in range(num_clouds + 1)]
    idx = fps(pos, batch, ratio, random_start=False)
    if not torch.equal(idx, baseline_fps(pos, ptr, ratio)):
        raise StateError('batched fps disagrees with the per-cloud baseline')
    query, query_batch = pos[idx], batch[idx]
    per_cloud = math.ceil(ratio * num_points)
    query_ptr = [i * per_cloud for i in range(num_clouds + 1)]

    kinds = dict(
        fps_baseline_s=lambda: baseline_fps(pos, ptr, ratio),
        fps_ours_s=lambda: fps(pos, batch, ratio, random_start=False),
        knn_baseline_s=lambda: baseline_knn(pos, ptr, query, query_ptr, k),
        knn_ours_s=lambda: knn(pos, query, k, batch, query_batch),
    )
    samples = interleaved_repeats(kinds, iters, repeats)
    speedups = {op: [b / o for b, o in zip(samples[f'{op}_baseline_s'], samples[f'{op}_ours_s'])]
                for op in ('fps', 'knn')}
    result: Dict[str, Any] = {key: statistics.median(v) for key, v in samples.items()}
    result.update(
        fps_speedup=result['fps_baseline_s'] / result['fps_ours_s'],
        knn_speedup=result['knn_baseline_s'] / result['knn_ours_s'],
        speedups=speedups, samples=samples, num_clouds=num_clouds, num_points=num_points,
        ratio=ratio, k=k, repeats=repeats, iters=iters)
    return result
