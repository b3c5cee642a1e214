"""Point-cloud classifiers (PointNet, PointNet++ SSG, DGCNN) whose width makes both teacher and
student, written as MMEngine ``BaseModel`` s like :mod:`mmkd.classification.models`.

Inputs
    ``inputs`` is a PyG-style ragged batch ``dict(pos=FloatTensor[N_total, 3],
    batch=LongTensor[N_total])`` (``batch`` sorted, optional: one cloud when missing) with
    optional per-point features ``x=FloatTensor[N_total, F]`` (the model's ``in_channels`` must
    be ``F``), or a dense ``FloatTensor[B, N, 3 + F]`` (first three columns are coordinates), which
    is flattened into the ragged form. ``data_samples`` is ``dict(labels=LongTensor[B])``.

Modes (as :class:`mmkd.classification.models.ConvClassifier`): ``'tensor'`` -> logits
``[B, num_classes]``, ``'loss'`` -> ``dict(loss_cls=...)``, ``'predict'`` -> one dict per cloud.

Recordable modules (``named_modules()`` paths, for :mod:`mmkd.distill.recorders`):

* :class:`PointNetClassifier`: ``encoder`` (per-point ``[N_total, C]``), ``pool`` (``[B, C]``),
  ``head`` (logits).
* :class:`PointNet2Classifier`: ``sa1``, ``sa2``, ... (tuples ``(x, pos, batch)``; record with
  ``index=0`` for the features), ``sa_out`` (features of the last SA level ``[M, C]``),
  ``sa_pos`` (their coordinates ``[M, 3]``), ``sa_batch`` (their cloud ``[M]``), ``global_sa``
  (``[B, C]``), ``head``. The sampling is deterministic (FPS from each cloud's first point, no
  RNG), so a teacher and a student with the same ``ratios`` sample the *same* points in the same
  order: their ``sa_out`` rows correspond one to one (``sa_pos`` is equal).
* :class:`DGCNNClassifier`: ``edge_convs.<i>`` (per-point ``[N_total, C_i]``), ``embed``
  (``[N_total, emb]``), ``pool`` (``[B, 2 * emb]``: max then mean), ``head``.

All three take ``width``: every hidden channel count is multiplied by it (rounded, at least 1),
so ``width=1.0`` and ``width=0.25`` of one family make a teacher / student pair. Parameters are
initialised from ``init_seed`` with a forked RNG: construction is deterministic and does not read
or advance torch's global generator (``init_seed=None`` uses the global generator instead).

Neighbour search uses :mod:`mmkd.pointcloud.ops` (PyG's own ``fps``/``knn``/``radius`` need
pyg-lib); PyG layers are only given precomputed ``edge_index``.
"""
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from torch import Tensor, nn
from torch_geometric.nn import EdgeConv, PointNetConv, global_max_pool, global_mean_pool
from torch_geometric.utils import scatter

from mmkd.errors import InvalidValueError
from mmkd.registry import MODELS
from mmkd.shared.classifier import masked_cross_entropy, predictions, sample_labels

from .ops import fps, knn_graph, radius

__all__ = ['PointNetClassifier', 'PointNet2Classifier', 'DGCNNClassifier', 'GlobalPool',
           'SetAbstraction', 'GlobalSetAbstraction', 'DGCNNEdgeConv', 'parse_point_inputs']

PointInputs = Union[Tensor, Dict[str, Tensor]]


def _scale(channels: Sequence[int], width: float) -> List[int]:
    """``channels`` multiplied by ``width`` (rounded, at least 1)."""
    return [max(1, int(round(int(c) * width))) for c in channels]


def mlp(channels: Sequence[int], last_act: bool = True, dropout: float = 0.0) -> nn.Sequential:
    """Shared MLP on ``[N, C]``: ``Linear(bias=False) + BatchNorm1d + ReLU`` per layer; with
    ``last_act=False`` the last layer is a plain ``Linear`` (with bias). ``dropout`` follows each
    activated hidden layer (not the last)."""
    layers: List[nn.Module] = []
    num = len(channels) - 1
    for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:])):
        if i == num - 1 and not last_act:
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            layers.append(nn.Linear(c_in, c_out))
        else:
            layers += [nn.Linear(c_in, c_out, bias=False), nn.BatchNorm1d(c_out),
                       nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def parse_point_inputs(inputs: PointInputs, in_channels: int = 0
                       ) -> Tuple[Tensor, Optional[Tensor], Tensor, int]:
    """``(pos [N, 3], x [N, F] or None, batch [N], num_clouds)`` from a ragged dict or a dense
    ``[B, N, 3 + F]`` tensor; ``ValueError`` naming ``inputs`` when neither fits."""
    expected = (f'expected dict(pos=float [N, 3], batch=long [N]'
                f'{", x=float [N, %d]" % in_channels if in_channels else ""}) or a dense float '
                f'tensor [B, N, {3 + in_channels}]')
    if isinstance(inputs, Tensor):
        if inputs.dim() != 3 or inputs.size(2) != 3 + in_channels or \
                not inputs.is_floating_point() or inputs.size(1) == 0:
            raise InvalidValueError(f'inputs: {expected}, got a {inputs.dtype} tensor of shape '
                                    f'{tuple(inputs.shape)}')
        num_clouds, num_points = inputs.shape[:2]
        flat = inputs.reshape(num_clouds * num_points, -1)
        batch = torch.arange(num_clouds, device=inputs.device).repeat_interleave(num_points)
        x = flat[:, 3:] if in_channels else None
        return flat[:, :3], x, batch, num_clouds
    if not isinstance(inputs, dict):
        raise InvalidValueError(f'inputs: {expected}, got {type(inputs).__name__}')
    pos = inputs.get('pos')
    if not isinstance(pos, Tensor) or pos.dim() != 2 or pos.size(1) != 3 or \
            not pos.is_floating_point() or pos.size(0) == 0:
        got = (f'shape {tuple(pos.shape)} {pos.dtype}' if isinstance(pos, Tensor)
               else type(pos).__name__)
        raise InvalidValueError(f"inputs['pos']: {expected}, got {got}")
    batch = inputs.get('batch')
    if batch is None:
        batch = torch.zeros(pos.size(0), dtype=torch.long, device=pos.device)
    if not isinstance(batch, Tensor) or batch.dim() != 1 or batch.numel() != pos.size(0) or \
            batch.is_floating_point() or batch.dtype == torch.bool:
        got = (f'shape {tuple(batch.shape)} {batch.dtype}' if isinstance(batch, Tensor)
               else type(batch).__name__)
        raise InvalidValueError(f"inputs['batch']: {expected}, got {got}")
    batch = batch.long()
    if bool((batch[1:] < batch[:-1]).any()) or int(batch[0]) < 0:
        raise InvalidValueError("inputs['batch'] must be sorted and non-negative (points of one "
                                "cloud "
                                'contiguous, clouds in increasing order)')
    x = inputs.get('x')
    if in_channels:
        if not isinstance(x, Tensor) or x.dim() != 2 or x.size(0) != pos.size(0) or \
                x.size(1) != in_channels or not x.is_floating_point():
            got = (f'shape {tuple(x.shape)}' if isinstance(x, Tensor) else type(x).__name__)
            raise InvalidValueError(f"inputs['x']: {expected}, got {got}")
    elif x is not None:
        raise InvalidValueError(f"inputs['x'] given but the model has in_channels=0; {expected}")
    return pos, x, batch, int(batch[-1]) + 1


class GlobalPool(nn.Module):
    """Global pooling of per-point features by cloud: ``'max'``, ``'mean'`` or ``'max_mean'``
    (concatenation, ``[B, 2C]``). A module so that its output ``[B, C]`` can be recorded."""

    def __init__(self, mode: str = 'max') -> None:
        super().__init__()
        if mode not in ('max', 'mean', 'max_mean'):
            raise InvalidValueError(f"mode must be 'max', 'mean' or 'max_mean', got {mode!r}")
        self.mode = mode

    def forward(self, x: Tensor, batch: Tensor, num_clouds: Optional[int] = None) -> Tensor:
        if self.mode == 'max':
            return self._max(x, batch, num_clouds)
        if self.mode == 'mean':
            return global_mean_pool(x, batch, num_clouds)
        return torch.cat([self._max(x, batch, num_clouds),
                          global_mean_pool(x, batch, num_clouds)], dim=1)

    @staticmethod
    def _max(x: Tensor, batch: Tensor, num_clouds: Optional[int]) -> Tensor:
        if torch.onnx.is_in_onnx_export() and num_clouds is not None:
            # PyG's ONNX branch of scatter(reduce='max') passes a tensor fill to torch.full,
            # which torch 2.14 rejects, and ONNX has no include_self=False: start from -inf.
            # (Every cloud of a dense [B, N, 3] export input has points, so no row stays -inf.)
            out = x.new_full((num_clouds, x.size(1)), float('-inf'))
            return out.scatter_reduce(0, batch.view(-1, 1).expand_as(x), x, 'amax',
                                      include_self=True)
        return global_max_pool(x, batch, num_clouds)

    def extra_repr(self) -> str:
        return f'mode={self.mode!r}'


class _PointClassifier(BaseModel):
    """Shared ``forward``: input parsing, modes, loss and predictions. Subclasses implement
    ``logits(pos, x, batch, num_clouds)``."""

    in_channels: int = 0

    def logits(self, pos: Tensor, x: Optional[Tensor], batch: Tensor,
               num_clouds: int) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, inputs: PointInputs, data_samples: Optional[Dict[str, Any]] = None,
                mode: str = 'tensor') -> Any:
        """``'tensor'`` -> logits ``[B, num_classes]``; ``'loss'`` -> ``dict(loss_cls)``;
        ``'predict'`` -> one dict per cloud (``scores``, ``pred_label``, ``gt_label``)."""
        if mode not in ('tensor', 'loss', 'predict'):
            raise InvalidValueError(f"mode: expected 'tensor', 'loss' or 'predict', got {mode!r}")
        pos, x, batch, num_clouds = parse_point_inputs(inputs, self.in_channels)
        logits = self.logits(pos, x, batch, num_clouds)
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            labels = sample_labels(data_samples).to(logits.device)
            return dict(loss_cls=masked_cross_entropy(logits, labels))
        return predictions(logits, data_samples)


class _SeededInit:
    """Context: build modules from a forked RNG seeded with ``seed`` (global RNG untouched)."""

    def __init__(self, seed: Optional[int]) -> None:
        self.seed = seed
        self._fork = None

    def __enter__(self) -> None:
        if self.seed is not None:
            self._fork = torch.random.fork_rng(devices=[])
            self._fork.__enter__()
            torch.manual_seed(self.seed)

    def __exit__(self, *exc) -> None:
        if self._fork is not None:
            self._fork.__exit__(*exc)
            self._fork = None


@MODELS.register_module()
class PointNetClassifier(_PointClassifier):
    """PointNet (no T-nets): shared per-point MLP, global max pool, MLP head.

    Args:
        channels: per-point MLP widths (before ``width``); input is ``3 + in_channels``.
        head_channels: hidden widths of the head (before ``width``).
        num_classes: classes.
        dropout: dropout before each head layer after the first.
        in_channels: extra per-point features ``inputs['x']`` (0: coordinates only).
        width: multiplier of every hidden channel count.
        init_seed: seed of the (forked) RNG used for initialisation; ``None``: global RNG.

    Recordable: ``encoder`` ``[N_total, C]``, ``pool`` ``[B, C]``, ``head`` ``[B, classes]``.
    """

    def __init__(self, channels: Sequence[int] = (64, 128, 1024),
                 head_channels: Sequence[int] = (512, 256), num_classes: int = 10,
                 dropout: float = 0.5, in_channels: int = 0, width: float = 1.0,
                 init_seed: Optional[int] = 0, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.in_channels = int(in_channels)
        self.num_classes = num_classes
        channels = _scale(channels, width)
        with _SeededInit(init_seed):
            self.encoder = mlp([3 + self.in_channels, *channels])
            self.pool = GlobalPool('max')
            self.head = mlp([channels[-1], *_scale(head_channels, width), num_classes],
                            last_act=False, dropout=dropout)
        self.out_channels = channels[-1]

    def logits(self, pos: Tensor, x: Optional[Tensor], batch: Tensor,
               num_clouds: int) -> Tensor:
        h = pos if x is None else torch.cat([pos, x], dim=1)
        return self.head(self.pool(self.encoder(h), batch, num_clouds))


class SetAbstraction(nn.Module):
    """Single-scale-grouping set abstraction: FPS keeps ``ratio`` of each cloud's points (from
    its first point, deterministic unless ``random_start``), each keeps its (up to
    ``max_neighbors`` nearest) neighbours within ``r`` and ``PointNetConv(local_nn)`` max-pools
    ``local_nn([x_j, pos_j - pos_i])`` over them. Returns ``(x, pos, batch)`` of the kept points.
    """

    def __init__(self, ratio: float, r: float, max_neighbors: int, local_nn: nn.Module,
                 random_start: bool = False) -> None:
        super().__init__()
        self.ratio = ratio
        self.r = r
        self.max_neighbors = max_neighbors
        self.random_start = random_start
        self.conv = PointNetConv(local_nn, add_self_loops=False)

    def forward(self, x: Optional[Tensor], pos: Tensor,
                batch: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        idx = fps(pos, batch, ratio=self.ratio,
                  random_start=self.random_start and self.training)
        pos_dst, batch_dst = pos[idx], batch[idx]
        row, col = radius(pos, pos_dst, self.r, batch, batch_dst,
                          max_num_neighbors=self.max_neighbors)
        edge_index = torch.stack([col, row])  # neighbour (source) -> centre (target)
        x_dst = None if x is None else x[idx]
        out = self.conv((x, x_dst), (pos, pos_dst), edge_index)
        return out, pos_dst, batch_dst

    def extra_repr(self) -> str:
        return f'ratio={self.ratio}, r={self.r}, max_neighbors={self.max_neighbors}'


class GlobalSetAbstraction(nn.Module):
    """``mlp([x, pos])`` on every point, then global max pool by cloud: ``[B, C]``."""

    def __init__(self, nn_: nn.Module) -> None:
        super().__init__()
        self.mlp = nn_
        self.pool = GlobalPool('max')

    def forward(self, x: Tensor, pos: Tensor, batch: Tensor,
                num_clouds: Optional[int] = None) -> Tensor:
        return self.pool(self.mlp(torch.cat([x, pos], dim=1)), batch, num_clouds)


@MODELS.register_module()
class PointNet2Classifier(_PointClassifier):
    """PointNet++ (single-scale grouping) classifier.

    Args:
        ratios: FPS ratio of each SA level (``sa1``, ``sa2``, ...).
        radii: ball radius of each level (in the units of ``pos``; defaults suit clouds
            normalised to the unit sphere).
        max_neighbors: neighbours per ball (the nearest ones), an int or one per level.
        channels: ``local_nn`` widths of each level (before ``width``).
        global_channels: widths of the global SA MLP (before ``width``).
        head_channels, num_classes, dropout, in_channels, width, init_seed: as
            :class:`PointNetClassifier`.
        random_start: random FPS start points in training (eval always starts at each cloud's
            first point). Off by default so that teacher and student see the same points.

    Recordable: ``sa<i>`` ``(x, pos, batch)``, ``sa_out`` ``[M, C]``, ``sa_pos`` ``[M, 3]``,
    ``sa_batch`` ``[M]``, ``global_sa`` ``[B, C]``, ``head``.
    """

    def __init__(self, ratios: Sequence[float] = (0.5, 0.25), radii: Sequence[float] = (0.2, 0.4),
                 max_neighbors: Union[int, Sequence[int]] = 32,
                 channels: Sequence[Sequence[int]] = ((64, 64, 128), (128, 128, 256)),
                 global_channels: Sequence[int] = (256, 512, 1024),
                 head_channels: Sequence[int] = (512, 256), num_classes: int = 10,
                 dropout: float = 0.5, in_channels: int = 0, width: float = 1.0,
                 random_start: bool = False, init_seed: Optional[int] = 0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        num_levels = len(ratios)
        if isinstance(max_neighbors, int):
            max_neighbors = [max_neighbors] * num_levels
        if not (len(radii) == len(channels) == len(max_neighbors) == num_levels) or \
                num_levels == 0:
            raise InvalidValueError('ratios, radii, channels and max_neighbors need one entry per '
                                    f'SA level, got {len(ratios)}, {len(radii)}, {len(channels)} '
                                    f'and {len(max_neighbors)}')
        self.in_channels = int(in_channels)
        self.num_classes = num_classes
        self.num_levels = num_levels
        c_in = self.in_channels
        with _SeededInit(init_seed):
            for i in range(num_levels):
                level = _scale(channels[i], width)
                self.add_module(f'sa{i + 1}', SetAbstraction(
                    float(ratios[i]), float(radii[i]), int(max_neighbors[i]),
                    mlp([c_in + 3, *level]), random_start=random_start))
                c_in = level[-1]
            self.sa_out = nn.Identity()
            self.sa_pos = nn.Identity()
            self.sa_batch = nn.Identity()
            glob = _scale(global_channels, width)
            self.global_sa = GlobalSetAbstraction(mlp([c_in + 3, *glob]))
            self.head = mlp([glob[-1], *_scale(head_channels, width), num_classes],
                            last_act=False, dropout=dropout)
        self.sa_channels = c_in
        self.out_channels = glob[-1]

    def logits(self, pos: Tensor, x: Optional[Tensor], batch: Tensor,
               num_clouds: int) -> Tensor:
        for i in range(self.num_levels):
            x, pos, batch = getattr(self, f'sa{i + 1}')(x, pos, batch)
        x, pos, batch = self.sa_out(x), self.sa_pos(pos), self.sa_batch(batch)
        return self.head(self.global_sa(x, pos, batch, num_clouds))


class DGCNNEdgeConv(EdgeConv):
    """PyG ``EdgeConv`` with ``nn = Linear(2 C_in, C_out, bias=False) + BN + ReLU`` and max
    aggregation, computed without materialising the ``[E, 2 C_in]`` edge inputs.

    ``W [x_i, x_j - x_i] = (W_a - W_b) x_i + W_b x_j``: both products are taken per point
    (``[N, C_out]``) and gathered per edge, so the linear layer costs ``N`` rather than
    ``E = k N`` rows. With BN in eval mode the max is also taken before BN + ReLU (an affine
    map and a monotone one), so only one ``[E, C_out]`` tensor is formed (~3x faster). Same
    function (and gradients) as ``EdgeConv.forward`` up to float rounding;
    ``EdgeConv.forward(self, x, edge_index)`` still gives the reference computation.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(mlp([2 * in_channels, out_channels]), aggr='max')
        self.in_channels = in_channels
        self.out_channels = out_channels

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:  # type: ignore[override]
        lin, norm, act = self.nn[0], self.nn[1], self.nn[2]
        w_i, w_j = lin.weight[:, :self.in_channels], lin.weight[:, self.in_channels:]
        src, dst = edge_index[0], edge_index[1]  # neighbour j -> centre i
        num_nodes = x.size(0)
        if not norm.training and norm.running_mean is not None:
            # BN with running statistics is an affine map s * z + t per channel and ReLU is
            # monotone, so max_j ReLU(s (a_i + b_j) + t) = ReLU(s a_i + t + max_j s b_j):
            # only the [N, C] term s * b is gathered per edge and reduced.
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            shift = norm.bias - norm.running_mean * scale
            centre = torch.addcmul(shift, x @ (w_i - w_j).t(), scale)
            nbr = (x @ w_j.t()).mul_(scale).index_select(0, src)
            num_edges = src.numel()
            k = num_edges // num_nodes if num_nodes else 0
            if k and k * num_nodes == num_edges and bool(
                    (dst.view(num_nodes, k) == torch.arange(num_nodes, device=dst.device)
                     .view(-1, 1)).all()):  # k edges per centre, grouped (as knn_graph gives)
                best = nbr.view(num_nodes, k, -1).amax(dim=1)
                return act(centre + best)
            best = scatter(nbr, dst, dim=0, dim_size=num_nodes, reduce='max')
            has_edge = torch.zeros(num_nodes, dtype=torch.bool, device=x.device)
            has_edge[dst] = True
            return act(centre + best) * has_edge.unsqueeze(1)
        edge = (x @ (w_i - w_j).t()).index_select(0, dst)
        edge = edge + (x @ w_j.t()).index_select(0, src)
        return scatter(act(norm(edge)), dst, dim=0, dim_size=num_nodes, reduce='max')


@MODELS.register_module()
class DGCNNClassifier(_PointClassifier):
    """DGCNN: EdgeConv layers on dynamic kNN graphs (first on the coordinates, then on each
    layer's input features), concatenation of all layer outputs, linear embedding, global
    max + mean pool, MLP head.

    Args:
        k: neighbours per point (the point itself included, as in DGCNN).
        channels: output widths of the EdgeConv layers ``edge_convs.<i>`` (before ``width``);
            each EdgeConv's ``nn`` is ``Linear(2 C_in, C_out) + BN + ReLU`` on ``[x_i, x_j - x_i]``.
        emb_channels: width of ``embed`` (before ``width``).
        head_channels, num_classes, dropout, in_channels, width, init_seed: as
            :class:`PointNetClassifier`.

    Recordable: ``edge_convs.<i>`` ``[N_total, C_i]``, ``embed`` ``[N_total, emb]``, ``pool``
    ``[B, 2 emb]``, ``head``.
    """

    def __init__(self, k: int = 20, channels: Sequence[int] = (64, 64, 128, 256),
                 emb_channels: int = 1024, head_channels: Sequence[int] = (512, 256),
                 num_classes: int = 10, dropout: float = 0.5, in_channels: int = 0,
                 width: float = 1.0, init_seed: Optional[int] = 0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if len(channels) == 0:
            raise InvalidValueError('channels: DGCNN needs at least one EdgeConv layer')
        self.k = int(k)
        self.in_channels = int(in_channels)
        self.num_classes = num_classes
        channels = _scale(channels, width)
        emb = _scale([emb_channels], width)[0]
        with _SeededInit(init_seed):
            convs = []
            c_in = 3 + self.in_channels
            for c_out in channels:
                convs.append(DGCNNEdgeConv(c_in, c_out))
                c_in = c_out
            self.edge_convs = nn.ModuleList(convs)
            self.embed = mlp([sum(channels), emb])
            self.pool = GlobalPool('max_mean')
            self.head = mlp([2 * emb, *_scale(head_channels, width), num_classes],
                            last_act=False, dropout=dropout)
        self.out_channels = 2 * emb

    def logits(self, pos: Tensor, x: Optional[Tensor], batch: Tensor,
               num_clouds: int) -> Tensor:
        h = pos if x is None else torch.cat([pos, x], dim=1)
        feats = []
        for i, conv in enumerate(self.edge_convs):
            # First graph on the coordinates, later ones on the current features.
            edge_index = knn_graph(pos if i == 0 else h, self.k, batch, loop=True)
            h = conv(h, edge_index)
            feats.append(h)
        h = self.embed(torch.cat(feats, dim=1))
        return self.head(self.pool(h, batch, num_clouds))
