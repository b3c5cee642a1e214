"""mmkd.pointcloud.transforms: geometric properties, shapes and seeded determinism."""
import numpy as np
import pytest
import torch

from mmkd.pointcloud.transforms import (Compose, Jitter, NormalizeToUnitSphere,
                                        RandomPointDropout, RandomRotation, SamplePoints,
                                        build_point_transforms)
from mmkd.registry import TRANSFORMS


def cloud(n=200, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=gen) * torch.tensor([3.0, 1.0, 0.5]) + 5.0


def pdist(p):
    """Exact pairwise distances (torch.cdist's matmul path loses precision)."""
    p = p.double()
    return (p[:, None] - p[None]).norm(dim=-1)


def gen(seed=1):
    return torch.Generator().manual_seed(seed)


def test_normalize_to_unit_sphere():
    pts = cloud()
    out = NormalizeToUnitSphere()(pts)
    assert out.shape == pts.shape
    assert torch.allclose(out.mean(0), torch.zeros(3), atol=1e-5)
    assert out.norm(dim=1).max().item() == pytest.approx(1.0, abs=1e-5)
    # shape is preserved up to scale: ratios of pairwise distances unchanged
    d_in, d_out = pdist(pts), pdist(out)
    assert torch.allclose(d_out * (d_in.max() / d_out.max()), d_in, atol=1e-3)
    assert torch.equal(pts, cloud())  # not in place
    # numpy in -> numpy out; degenerate cloud only centred
    np_out = NormalizeToUnitSphere()(pts.numpy())
    assert isinstance(np_out, np.ndarray) and np.allclose(np_out, out.numpy(), atol=1e-6)
    same = NormalizeToUnitSphere()(torch.ones(5, 3))
    assert torch.equal(same, torch.zeros(5, 3))


def test_sample_points_counts():
    pts = cloud(100)
    sub = SamplePoints(64)(pts, generator=gen())
    assert sub.shape == (64, 3)
    # without replacement: all rows distinct and taken from the input
    assert len({tuple(r) for r in sub.tolist()}) == 64
    rows = {tuple(r) for r in pts.tolist()}
    assert all(tuple(r) in rows for r in sub.tolist())
    up = SamplePoints(250)(pts, generator=gen())
    assert up.shape == (250, 3)
    assert {tuple(r) for r in up.tolist()} == rows  # every point kept, the rest repeats
    assert SamplePoints(100)(pts, generator=gen()).shape == (100, 3)
    with pytest.raises(ValueError, match='num_points'):
        SamplePoints(0)
    with pytest.raises(ValueError, match=r'\[N, 3\]'):
        SamplePoints(4)(torch.zeros(10, 2))


def test_jitter_bounds():
    pts = cloud(2000)
    out = Jitter(sigma=0.01, clip=0.02)(pts, generator=gen())
    delta = out - pts
    assert delta.abs().max().item() <= 0.02 + 1e-6
    assert 0.005 < delta.std().item() < 0.015
    big = Jitter(sigma=1.0, clip=0.05)(pts, generator=gen()) - pts
    assert big.abs().max().item() <= 0.05 + 1e-6
    assert torch.equal(Jitter(sigma=0.0)(pts), pts)


@pytest.mark.parametrize('axis', ['x', 'y', 'z', None])
def test_rotation_preserves_norms_and_distances(axis):
    pts = cloud(300)
    out = RandomRotation(axis=axis)(pts, generator=gen())
    assert out.shape == pts.shape
    assert not torch.allclose(out, pts)
    assert torch.allclose(out.norm(dim=1), pts.norm(dim=1), rtol=1e-4, atol=1e-4)
    assert torch.allclose(pdist(out), pdist(pts), atol=1e-4)
    if axis is not None:  # the axis coordinate is unchanged
        k = 'xyz'.index(axis)
        assert torch.allclose(out[:, k], pts[:, k], atol=1e-5)


def test_rotation_is_proper_and_axis_checked():
    from mmkd.pointcloud.transforms import random_rotation_matrix
    for seed in range(5):
        rot = random_rotation_matrix(None, gen(seed))
        assert torch.allclose(rot @ rot.T, torch.eye(3, dtype=torch.float64), atol=1e-10)
        assert torch.det(rot).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match='axis'):
        RandomRotation(axis='w')


def test_dropout_keeps_n():
    pts = cloud(500)
    out = RandomPointDropout(max_ratio=0.875)(pts, generator=gen(3))
    assert out.shape == pts.shape
    changed = ~(out == pts).all(1)
    # dropped points become the first point; kept points are untouched
    assert (out[changed] == pts[0]).all()
    assert changed.any()
    assert torch.equal(RandomPointDropout(max_ratio=0.0)(pts, generator=gen()), pts)
    with pytest.raises(ValueError, match='max_ratio'):
        RandomPointDropout(1.0)


def test_determinism_with_seeded_generator():
    pts = cloud(400)
    pipeline = Compose([dict(type='SamplePoints', num_points=256), NormalizeToUnitSphere(),
                        dict(type='RandomRotation', axis=None), Jitter(),
                        RandomPointDropout()])
    a = pipeline(pts, generator=gen(7))
    b = pipeline(pts, generator=gen(7))
    c = pipeline(pts, generator=gen(8))
    assert a.shape == (256, 3)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    for t in [SamplePoints(50), Jitter(), RandomRotation(), RandomPointDropout()]:
        assert torch.equal(t(pts, generator=gen(4)), t(pts, generator=gen(4)))


def test_registry_and_builder():
    t = TRANSFORMS.build(dict(type='mmkd.SamplePoints', num_points=8))
    assert isinstance(t, SamplePoints)
    assert build_point_transforms(None) is None
    composed = build_point_transforms([dict(type='NormalizeToUnitSphere'), lambda p: p * 2])
    out = composed(cloud(10))
    assert out.norm(dim=1).max().item() == pytest.approx(2.0, abs=1e-5)
    assert 'NormalizeToUnitSphere' in repr(composed)


def test_sample_points_with_a_seed_ignores_the_global_rng():
    points = torch.arange(300.).reshape(100, 3)
    fixed = SamplePoints(10, seed=3)
    torch.manual_seed(0)
    first = fixed(points)
    torch.rand(7)  # the global RNG moves on
    assert torch.equal(fixed(points), first)
    assert not torch.equal(SamplePoints(10, seed=4)(points), first)
    expected = points[torch.randperm(100, generator=torch.Generator().manual_seed(3))[:10]]
    assert torch.equal(first, expected)
