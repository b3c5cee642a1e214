"""mmkd.pointcloud ops against brute force written here with plain loops over clouds."""
import math

import pytest
import torch

from mmkd.pointcloud import fps, knn, knn_graph, radius, radius_graph
from mmkd.pointcloud import ops as ops_module

SIZES = [5, 17, 1, 64]
QUERY_SIZES = [3, 8, 1, 20]


def make_batch(sizes, seed, dim=3):
    gen = torch.Generator().manual_seed(seed)
    pos = torch.rand(sum(sizes), dim, generator=gen, dtype=torch.float64).float()
    batch = torch.cat([torch.full((n,), i, dtype=torch.long) for i, n in enumerate(sizes)])
    return pos, batch


def offsets(sizes):
    return [sum(sizes[:i]) for i in range(len(sizes) + 1)]


def exact_cdist(a, b):
    return torch.cdist(a.double(), b.double(), compute_mode='donot_use_mm_for_euclid_dist')


def brute_neighbours(x, y, sizes_x, sizes_y, k, r=None, exclude_self=False):
    """{(query index into y, index into x)} with a loop over clouds and queries."""
    px, py = offsets(sizes_x), offsets(sizes_y)
    edges = set()
    for c in range(len(sizes_x)):
        xs, ys = x[px[c]:px[c + 1]], y[py[c]:py[c + 1]]
        if len(xs) == 0 or len(ys) == 0:
            continue
        dist = exact_cdist(ys, xs)
        for qi in range(len(ys)):
            cand = [(float(dist[qi, j]), j) for j in range(len(xs))
                    if not (exclude_self and j == qi)]
            if r is not None:
                cand = [(d, j) for d, j in cand if d < r]
            for _, j in sorted(cand)[:k]:
                edges.add((py[c] + qi, px[c] + j))
    return edges


def as_set(edge_index):
    return set(map(tuple, edge_index.t().tolist()))


def check_grouped_by_query(edge_index, x, y):
    row, col = edge_index
    assert bool((row[1:] >= row[:-1]).all()), 'edges not grouped by query'
    d = (x[col] - y[row]).pow(2).sum(-1)
    same = row[1:] == row[:-1]
    assert bool((d[1:][same] >= d[:-1][same] - 1e-6).all()), 'not sorted by distance'


@pytest.mark.parametrize('k', [1, 4, 8, 100])
def test_knn_matches_brute_force(k):
    x, bx = make_batch(SIZES, 0)
    y, by = make_batch(QUERY_SIZES, 1)
    out = knn(x, y, k, bx, by)
    assert out.dtype == torch.long and out.shape[0] == 2
    assert as_set(out) == brute_neighbours(x, y, SIZES, QUERY_SIZES, k)
    assert out.size(1) == sum(q * min(k, n) for q, n in zip(QUERY_SIZES, SIZES))
    assert bool((bx[out[1]] == by[out[0]]).all())
    check_grouped_by_query(out, x, y)


def test_knn_single_cloud_and_empty_cloud():
    x, _ = make_batch([30], 2)
    y, _ = make_batch([7], 3)
    assert as_set(knn(x, y, 5)) == brute_neighbours(x, y, [30], [7], 5)
    # Cloud 1 has no x points (batch ids 0 and 2 only): its queries get no neighbours.
    x2, _ = make_batch([6, 9], 4)
    bx = torch.tensor([0] * 6 + [2] * 9)
    y2, _ = make_batch([2, 3, 4], 5)
    by = torch.tensor([0] * 2 + [1] * 3 + [2] * 4)
    expected = brute_neighbours(x2, y2, [6, 0, 9], [2, 3, 4], 3)
    assert as_set(knn(x2, y2, 3, bx, by)) == expected


def test_knn_chunked_equals_unchunked(monkeypatch):
    x, bx = make_batch(SIZES, 6)
    y, by = make_batch(QUERY_SIZES, 7)
    full = knn(x, y, 6, bx, by)
    graph = knn_graph(x, 6, bx)
    monkeypatch.setattr(ops_module, '_MAX_BLOCK', 3 * 64)  # 3 queries per block
    assert torch.equal(knn(x, y, 6, bx, by), full)
    assert torch.equal(knn_graph(x, 6, bx), graph)


@pytest.mark.parametrize('loop', [False, True])
@pytest.mark.parametrize('k', [3, 20])
def test_knn_graph_matches_brute_force(loop, k):
    x, b = make_batch(SIZES, 8)
    out = knn_graph(x, k, b, loop=loop)
    centre_nbr = brute_neighbours(x, x, SIZES, SIZES, k, exclude_self=not loop)
    # source_to_target: row 0 = neighbour j, row 1 = centre i.
    assert as_set(out) == {(j, i) for i, j in centre_nbr}
    if not loop:
        assert not bool((out[0] == out[1]).any())
    else:  # the point itself (distance 0) is always among its k nearest
        assert {(i, i) for i in range(x.size(0))} <= as_set(out)
    flipped = knn_graph(x, k, b, loop=loop, flow='target_to_source')
    assert torch.equal(flipped, out.flip(0))


@pytest.mark.parametrize('max_num', [3, 64])
def test_radius_matches_brute_force(max_num):
    x, bx = make_batch(SIZES, 9)
    y, by = make_batch(QUERY_SIZES, 10)
    r = 0.35
    out = radius(x, y, r, bx, by, max_num_neighbors=max_num)
    assert as_set(out) == brute_neighbours(x, y, SIZES, QUERY_SIZES, max_num, r=r)
    check_grouped_by_query(out, x, y)
    counts = torch.bincount(out[0], minlength=y.size(0))
    assert int(counts.max()) <= max_num


@pytest.mark.parametrize('loop', [False, True])
def test_radius_graph_matches_brute_force(loop):
    x, b = make_batch(SIZES, 11)
    out = radius_graph(x, 0.3, b, loop=loop, max_num_neighbors=5)
    centre_nbr = brute_neighbours(x, x, SIZES, SIZES, 5, r=0.3, exclude_self=not loop)
    assert as_set(out) == {(j, i) for i, j in centre_nbr}


def reference_fps(pos, sizes, ratio, starts=None):
    """Per-cloud farthest point sampling, iterative min-distance update, in float64."""
    out = []
    for c, (start, end) in enumerate(zip(offsets(sizes)[:-1], offsets(sizes)[1:])):
        cloud = pos[start:end].double()
        num = math.ceil(ratio * len(cloud))
        cur = 0 if starts is None else starts[c]
        min_d = torch.full((len(cloud),), math.inf, dtype=torch.float64)
        for _ in range(num):
            out.append(start + cur)
            min_d = torch.minimum(min_d, ((cloud - cloud[cur]) ** 2).sum(1))
            cur = int(min_d.argmax())
    return torch.tensor(out, dtype=torch.long)


@pytest.mark.parametrize('ratio', [0.1, 0.25, 0.5, 1.0])
def test_fps_deterministic_matches_reference(ratio):
    pos, b = make_batch(SIZES, 12)
    out = fps(pos, b, ratio, random_start=False)
    assert torch.equal(out, reference_fps(pos, SIZES, ratio))
    counts = torch.bincount(b[out], minlength=len(SIZES))
    assert counts.tolist() == [math.ceil(ratio * n) for n in SIZES]


@pytest.mark.parametrize('seed', [0, 1])
def test_fps_random_start_properties(seed):
    pos, b = make_batch(SIZES, 13 + seed)
    torch.manual_seed(seed)
    out = fps(pos, b, 0.3)
    torch.manual_seed(seed)
    assert torch.equal(fps(pos, b, 0.3), out)  # reproducible with the global seed
    ptr = offsets(SIZES)
    firsts = []
    for c, n in enumerate(SIZES):
        mine = out[b[out] == c]
        assert len(mine) == math.ceil(0.3 * n)
        assert bool(((mine >= ptr[c]) & (mine < ptr[c + 1])).all())  # inside its own cloud
        assert len(set(mine.tolist())) == len(mine)
        firsts.append(int(mine[0]) - ptr[c])
        # Every pick after the first is the farthest point from those picked before it.
        cloud = pos[ptr[c]:ptr[c + 1]].double()
        for t in range(1, len(mine)):
            d_prev = exact_cdist(cloud, cloud[mine[:t] - ptr[c]]).min(1).values
            assert math.isclose(float(d_prev[mine[t] - ptr[c]]), float(d_prev.max()),
                                rel_tol=1e-5, abs_tol=1e-6)
    # And the whole selection equals the reference started from the same points.
    assert torch.equal(out, reference_fps(pos, SIZES, 0.3, starts=firsts))


def test_fps_default_batch_and_2d_points():
    pos, _ = make_batch([40], 15, dim=2)
    out = fps(pos, ratio=0.2, random_start=False)
    assert torch.equal(out, reference_fps(pos, [40], 0.2))


def test_pyg_messages_flow_neighbour_to_centre():
    """A real PyG layer fed our edge_index: PointNetConv's message is pos_j - pos_i, summarised
    (max) at the centre i. Points on a line at 0, 1, 10: nearest neighbours 0->1, 1->0, 2->1."""
    from torch_geometric.nn import MessagePassing, PointNetConv
    pos = torch.tensor([[0., 0, 0], [1, 0, 0], [10, 0, 0]])
    edge_index = knn_graph(pos, k=1)
    assert as_set(edge_index) == {(1, 0), (0, 1), (1, 2)}  # (neighbour j, centre i)
    conv = PointNetConv(local_nn=None, global_nn=None, add_self_loops=False)
    out = conv(None, pos, edge_index)
    assert torch.equal(out[:, 0], torch.tensor([1., -1., -9.]))  # pos[nbr(i)] - pos[i]

    class SumNeighbours(MessagePassing):
        def __init__(self):
            super().__init__(aggr='add')  # flow='source_to_target' (PyG default)

        def forward(self, x, edge_index):
            return self.propagate(edge_index, x=x)

    feats = torch.tensor([[1.], [10.], [100.]])
    # Point 1 is the neighbour of 0 and 2; point 0 of 1; nobody has 2 as its neighbour.
    assert SumNeighbours()(feats, edge_index).flatten().tolist() == [10., 1., 10.]
    ei_r = radius_graph(pos, r=1.5)
    assert as_set(ei_r) == {(1, 0), (0, 1)}


def test_signatures_match_pyg():
    import inspect

    import torch_geometric.nn.pool as pyg_pool
    for name in ('knn', 'knn_graph', 'radius', 'radius_graph', 'fps'):
        ours = list(inspect.signature(getattr(ops_module, name)).parameters.items())
        theirs = list(inspect.signature(getattr(pyg_pool, name)).parameters.items())
        assert [p.default for _, p in ours] == [p.default for _, p in theirs], name
        names_ours = [n for n, _ in ours]
        names_theirs = [n for n, _ in theirs]
        if name == 'fps':  # the brief names the points ``pos``; PyG calls them ``x``
            names_theirs[0] = 'pos'
        assert names_ours == names_theirs, name


def test_errors_name_the_argument():
    pos, b = make_batch([4, 6], 16)
    with pytest.raises(ValueError, match='pos'):
        fps(pos.view(2, 5, 3))
    with pytest.raises(ValueError, match='batch'):
        fps(pos, b[:-1])
    with pytest.raises(ValueError, match='sorted'):
        fps(pos, b.flip(0))
    for ratio in (0, 1.5, -0.1):
        with pytest.raises(ValueError, match='ratio'):
            fps(pos, b, ratio)
    with pytest.raises(ValueError, match='k'):
        knn(pos, pos, 0, b, b)
    with pytest.raises(ValueError, match='k'):
        knn_graph(pos, 0, b)
    with pytest.raises(ValueError, match='batch_y'):
        knn(pos, pos, 2, b, b[:3])
    with pytest.raises(ValueError, match='batch_x'):
        knn(pos, pos, 2, b.flip(0), b)
    with pytest.raises(ValueError, match='x'):
        knn(pos.unsqueeze(0), pos, 2)
    with pytest.raises(ValueError, match='max_num_neighbors'):
        radius(pos, pos, 0.5, b, b, max_num_neighbors=0)
    with pytest.raises(ValueError, match='r must'):
        radius_graph(pos, -1.0, b)
    with pytest.raises(ValueError, match='flow'):
        knn_graph(pos, 2, b, flow='sideways')


def test_empty_inputs():
    empty = torch.empty(0, 3)
    assert fps(empty).numel() == 0
    assert knn(empty, torch.rand(4, 3), 3).shape == (2, 0)
    assert knn_graph(empty, 3).shape == (2, 0)


# --- Stress cases: uneven density, degenerate shapes, ties, tiny clouds, large k. -------------

def brute_sorted_dists(x, y, sizes_x, sizes_y, k, exclude_self=False):
    """Per query of ``y`` the sorted distances to its ``k`` nearest points of its cloud of ``x``
    (float64, loop over clouds and queries): the answer up to ties."""
    px, py = offsets(sizes_x), offsets(sizes_y)
    out = []
    for c in range(len(sizes_y)):
        xs, ys = x[px[c]:px[c + 1]], y[py[c]:py[c + 1]]
        dist = exact_cdist(ys, xs) if len(xs) else torch.empty(len(ys), 0, dtype=torch.float64)
        for qi in range(len(ys)):
            d = [float(dist[qi, j]) for j in range(len(xs)) if not (exclude_self and j == qi)]
            out.append(sorted(d)[:k])
    return out


def result_sorted_dists(edge_index, x, y, num_queries):
    """Per query the distances of the neighbours in ``edge_index`` (row 0 into y, row 1 into x),
    in the order returned (which must be ascending)."""
    row, col = edge_index
    d = (x[col].double() - y[row].double()).norm(dim=1)
    out = [[] for _ in range(num_queries)]
    for r, dist in zip(row.tolist(), d.tolist()):
        out[r].append(dist)
    return out


def assert_same_dists(got, expected, atol):
    assert len(got) == len(expected)
    for q, (g, e) in enumerate(zip(got, expected)):
        assert len(g) == len(e), f'query {q}: {len(g)} neighbours, expected {len(e)}'
        assert all(b >= a - atol for a, b in zip(g, g[1:])), f'query {q}: not sorted'
        assert torch.allclose(torch.tensor(g), torch.tensor(e), rtol=1e-9, atol=atol), \
            f'query {q}: {g} != {e}'


def clustered_batch(seed, dtype=torch.float64):
    """Three clouds: a tight blob plus far outliers; a flat plane with a few off-plane points;
    points on a line with many exact duplicates."""
    gen = torch.Generator().manual_seed(seed)
    blob = torch.cat([0.01 * torch.randn(300, 3, generator=gen, dtype=torch.float64),
                      10 * torch.rand(30, 3, generator=gen, dtype=torch.float64)])
    plane = torch.rand(200, 3, generator=gen, dtype=torch.float64) * torch.tensor([4., 2., 0.])
    plane[:5, 2] = torch.rand(5, generator=gen, dtype=torch.float64)
    line = torch.zeros(150, 3, dtype=torch.float64)
    line[:, 0] = torch.randint(0, 20, (150,), generator=gen).double() / 7  # ~7 copies each
    sizes = [len(blob), len(plane), len(line)]
    pos = torch.cat([blob, plane, line]).to(dtype)
    batch = torch.cat([torch.full((n,), i, dtype=torch.long) for i, n in enumerate(sizes)])
    return pos, batch, sizes


@pytest.mark.parametrize('k', [1, 16, 40])
def test_knn_clustered_anisotropic_duplicates(k):
    x, bx, sizes = clustered_batch(20)
    gen = torch.Generator().manual_seed(21)
    pick = torch.randperm(x.size(0), generator=gen)[:120].sort()[0]
    y, by = x[pick] + 1e-4 * torch.randn(120, 3, generator=gen, dtype=x.dtype), bx[pick]
    sizes_y = torch.bincount(by, minlength=len(sizes)).tolist()
    out = knn(x, y, k, bx, by)
    check_grouped_by_query(out, x, y)
    assert bool((bx[out[1]] == by[out[0]]).all())
    assert_same_dists(result_sorted_dists(out, x, y, y.size(0)),
                      brute_sorted_dists(x, y, sizes, sizes_y, k), atol=1e-9)


@pytest.mark.parametrize('loop', [False, True])
def test_knn_graph_clustered_and_duplicates(loop):
    x, b, sizes = clustered_batch(22)
    k = 12
    out = knn_graph(x, k, b, loop=loop, flow='target_to_source')  # row 0 = centre
    if not loop:
        assert not bool((out[0] == out[1]).any())
    assert_same_dists(result_sorted_dists(out, x, x, x.size(0)),
                      brute_sorted_dists(x, x, sizes, sizes, k, exclude_self=not loop),
                      atol=1e-9)


def test_knn_float32_clustered_within_documented_precision():
    """float32: distances agree with float64 brute force up to ~1e-7 of the squared extent."""
    x, bx, sizes = clustered_batch(23, dtype=torch.float32)
    out = knn(x, x, 8, bx, bx)
    got = result_sorted_dists(out, x, x, x.size(0))
    expected = brute_sorted_dists(x.double(), x.double(), sizes, sizes, 8)
    for g, e in zip(got, expected):
        assert len(g) == len(e)
        # Squared distances within 1e-5 of the squared cloud extent (blob + outliers ~ 300).
        assert torch.allclose(torch.tensor(g) ** 2, torch.tensor(e) ** 2, atol=1e-5 * 300)


def test_knn_tiny_clouds_and_large_k():
    sizes_x, sizes_y = [1, 2, 3, 0, 90], [2, 1, 3, 2, 5]
    x, bx = make_batch(sizes_x, 24)
    y, by = make_batch(sizes_y, 25)
    x, y = x.double(), y.double()
    for k in (1, 2, 5, 64, 500):  # 500 > every cloud: all points of each cloud
        out = knn(x, y, k, bx, by)
        check_grouped_by_query(out, x, y)
        assert out.size(1) == sum(q * min(k, n) for q, n in zip(sizes_y, sizes_x))
        assert_same_dists(result_sorted_dists(out, x, y, y.size(0)),
                          brute_sorted_dists(x, y, sizes_x, sizes_y, k), atol=1e-12)
    # knn_graph on clouds smaller than k (and a single point: no neighbour without the loop).
    g = knn_graph(x, 10, bx)
    assert_same_dists(result_sorted_dists(g.flip(0), x, x, x.size(0)),
                      brute_sorted_dists(x, x, sizes_x, sizes_x, 10, exclude_self=True),
                      atol=1e-12)


def test_knn_all_points_identical():
    x = torch.ones(50, 3)
    out = knn(x, x[:4], 5)
    assert out.shape == (2, 20)
    assert torch.equal(out[0], torch.arange(4).repeat_interleave(5))
    for q in range(4):  # five distinct points per query (all at distance 0: any five)
        nbrs = out[1][out[0] == q]
        assert len(set(nbrs.tolist())) == 5 and bool((nbrs < 50).all())
    g = knn_graph(x, 3)
    assert g.size(1) == 150 and not bool((g[0] == g[1]).any())
