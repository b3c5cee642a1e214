"""Pictures of point clouds: a grid of 3D scatter plots with predicted / true class names.

* :func:`render_samples` draws clouds (each point coloured by its height ``z``, fixed camera,
  equal axis scale, axes off) with one title per cloud and writes the PNG atomically.
* :func:`predict_samples` runs a classifier on chosen dataset items (eval mode, no grad).
* :func:`pick_indices` chooses items spread across classes, deterministically for a seed.
* :func:`sample_color` / :func:`sample_title` make the title of one cloud (green when the
  prediction is right, red when wrong, black when there is no prediction).

matplotlib is imported lazily, and only its object-oriented API with the Agg canvas is used (no
``pyplot``, no global backend switch), so this works headless and inside other programs.
"""
import math
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from mmkd.errors import InvalidValueError
from mmkd.fileio import save_figure

__all__ = ['render_samples', 'predict_samples', 'pick_indices', 'sample_color',
           'sample_title', 'CORRECT_COLOR', 'WRONG_COLOR', 'NEUTRAL_COLOR']

CORRECT_COLOR = '#1a9641'  # green
WRONG_COLOR = '#d7191c'  # red
NEUTRAL_COLOR = '#000000'  # no prediction

PointsLike = Union[np.ndarray, torch.Tensor]


def sample_color(pred: Optional[int], gt: Optional[int]) -> str:
    """Title colour of one sample: green when ``pred == gt``, red when not, black when either is
    unknown (``None``)."""
    if pred is None or gt is None:
        return NEUTRAL_COLOR
    return CORRECT_COLOR if int(pred) == int(gt) else WRONG_COLOR


def _name(classes: Optional[Sequence[str]], label: int) -> str:
    label = int(label)
    if classes is not None and 0 <= label < len(classes):
        return str(classes[label])
    return str(label)


def sample_title(classes: Optional[Sequence[str]], gt: Optional[int],
                 pred: Optional[int] = None) -> str:
    """``'pred: table (gt: chair)'``, or ``'gt: chair'`` without a prediction (class indices
    when ``classes`` is None or does not cover a label)."""
    if pred is None:
        return f'gt: {_name(classes, gt)}' if gt is not None else ''
    if gt is None:
        return f'pred: {_name(classes, pred)}'
    return f'pred: {_name(classes, pred)} (gt: {_name(classes, gt)})'


def _as_numpy(points: PointsLike, index: int) -> np.ndarray:
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 3 or len(points) == 0:
        raise InvalidValueError(f'points[{index}]: expected an array of shape [N, 3] with N > 0, '
                                f'got {points.shape}')
    return points[:, :3]


def render_samples(points: Sequence[PointsLike], titles: Sequence[str], path: str,
                   colors: Optional[Sequence[str]] = None, ncols: int = 4,
                   elev: float = 20.0, azim: float = -60.0, point_size: float = 7.0,
                   panel_size: float = 3.0, dpi: int = 100, cmap: str = 'viridis',
                   zoom: float = 1.3,
                   suptitle: Optional[str] = None) -> str:
    """Draw ``points`` (a list of ``[N, 3]`` arrays or tensors) as a grid of 3D scatter plots and
    write it to ``path`` as a PNG (atomically: a temporary file in the same folder, then a
    rename). Returns ``path``.

    Each cloud is coloured by height (``z``, with ``cmap``), seen from the same camera
    (``elev``/``azim`` in degrees), on equal axis scales, axes hidden, titled ``titles[i]`` in
    ``colors[i]`` (default black). The grid has ``min(ncols, len(points))`` columns; the
    picture is exactly ``(columns * panel_size * dpi, rows * panel_size * dpi)`` pixels.
    """
    if len(points) == 0:
        raise InvalidValueError('render_samples: no point clouds to draw')
    if len(titles) != len(points):
        raise InvalidValueError(f'render_samples: {len(points)} clouds but {len(titles)} titles')
    if colors is not None and len(colors) != len(points):
        raise InvalidValueError(f'render_samples: {len(points)} clouds but {len(colors)} colours')
    if ncols < 1:
        raise InvalidValueError(f'render_samples: ncols must be >= 1, got {ncols}')
    clouds = [_as_numpy(p, i) for i, p in enumerate(points)]

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cols = min(ncols, len(clouds))
    rows = math.ceil(len(clouds) / cols)
    fig = Figure(figsize=(cols * panel_size, rows * panel_size), dpi=dpi)
    FigureCanvasAgg(fig)
    for i, cloud in enumerate(clouds):
        ax = fig.add_subplot(rows, cols, i + 1, projection='3d')
        x, y, z = cloud[:, 0], cloud[:, 1], cloud[:, 2]
        # the top of the colour map (pale yellow) is hard to see on white: stop short of it
        low, high = float(z.min()), float(z.max())
        ax.scatter(x, y, z, c=z, cmap=cmap, vmin=low, vmax=high + 0.15 * (high - low),
                   s=point_size, linewidths=0, depthshade=True)
        centre = (cloud.max(axis=0) + cloud.min(axis=0)) / 2
        half = max(float((cloud.max(axis=0) - cloud.min(axis=0)).max()) / 2, 1e-6)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_zlim(centre[2] - half, centre[2] + half)
        ax.set_box_aspect((1, 1, 1), zoom=zoom)
        ax.view_init(elev=elev, azim=azim)
        ax.set_axis_off()
        ax.set_title(titles[i], color=(colors[i] if colors is not None else NEUTRAL_COLOR),
                     fontsize=10, pad=0)
    height = rows * panel_size  # inches; keep room for the titles whatever the grid's size
    top = 1 - min(0.5, (0.3 + (0.35 if suptitle else 0.0)) / height)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=top, wspace=0, hspace=0.3 / panel_size)
    if suptitle:
        fig.suptitle(suptitle, fontsize=12)
    return save_figure(fig, path, dpi)


def pick_indices(labels: Sequence[int], num: int, seed: int = 0) -> List[int]:
    """``num`` dataset indices spread across classes: classes in a seeded random order, one
    random sample from each in turn (round robin) until ``num`` are chosen (all of them when
    there are fewer). Deterministic for ``seed``."""
    if num < 1:
        raise InvalidValueError(f'num must be >= 1, got {num}')
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    classes = rng.permutation(np.unique(labels))
    pools = [list(rng.permutation(np.flatnonzero(labels == c))) for c in classes]
    chosen: List[int] = []
    while len(chosen) < min(num, len(labels)):
        for pool in pools:
            if pool and len(chosen) < num:
                chosen.append(int(pool.pop(0)))
    return chosen


@torch.no_grad()
def predict_samples(model: torch.nn.Module, dataset, indices: Sequence[int],
                    batch_size: int = 32, progress: bool = False) -> List[Dict]:
    """Run ``model`` on ``dataset[i]`` for ``i`` in ``indices`` (the dataset's own transforms,
    batched with ``default_collate``, through the model's ``data_preprocessor`` when it has one,
    ``mode='predict'``) in eval mode without gradients. The model's train/eval mode is restored.

    Returns one ``dict(points=np.ndarray [N, 3], pred=int, gt=int)`` per index, in order.
    """
    from torch.utils.data import default_collate

    batches = [list(indices[i:i + batch_size]) for i in range(0, len(indices), batch_size)]
    if progress:
        from tqdm import tqdm
        batches = tqdm(batches, desc='predicting', unit='batch', leave=False)
    was_training = model.training
    model.eval()
    results: List[Dict] = []
    try:
        for batch_indices in batches:
            items = [dataset[i] for i in batch_indices]
            batch = default_collate(items)
            if hasattr(model, 'test_step'):  # MMEngine BaseModel: data_preprocessor + predict
                outputs = model.test_step(batch)
            else:
                outputs = model(batch['inputs'], batch['data_samples'], mode='predict')
            for item, out in zip(items, outputs):
                gt = out.get('gt_label', item['data_samples']['labels'])
                results.append(dict(points=item['inputs'].detach().cpu().numpy(),
                                    pred=int(out['pred_label']), gt=int(gt)))
    finally:
        model.train(was_training)
    return results
