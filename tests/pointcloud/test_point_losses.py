"""Golden-value tests for the point-cloud distillation losses: PointFeatureLoss (PointNet++
feature-propagation interpolation + hint MSE) and PointDistillerLoss (Zhang et al., CVPR 2023),
against hand-computed values and brute-force reimplementations with explicit per-cloud loops."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper

import mmkd.pointcloud  # noqa: F401  (registers the losses)
from conftest import randn
from mmkd.distill import Distill
from mmkd.registry import LOSSES


def cloud_batch(sizes):
    return torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))


def point_feature(**kwargs):
    return LOSSES.build(dict(type='PointFeatureLoss', **kwargs))


# ---------------------------------------------------------------------------------------------
# PointFeatureLoss


def brute_force_interpolation(s_pos, s_batch, t_feats, t_pos, t_batch, k, eps):
    """IDW interpolation with an explicit loop over the student points."""
    out = []
    for p, b in zip(s_pos.tolist(), s_batch.tolist()):
        cands = [(sum((a - c) ** 2 for a, c in zip(p, q)), f)
                 for q, f, tb in zip(t_pos.tolist(), t_feats.tolist(), t_batch.tolist())
                 if tb == b]
        cands.sort(key=lambda c: c[0])
        cands = cands[:k]
        weights = [1.0 / (d + eps) for d, _ in cands]
        total = sum(weights)
        out.append([sum(w * f[c] for w, (_, f) in zip(weights, cands)) / total
                    for c in range(len(cands[0][1]))])
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize('k', [1, 3])
def test_point_feature_same_points_is_feature_mse(k):
    sizes = [20, 13]
    pos, batch = randn(33, 3, seed=1), cloud_batch(sizes)
    s, t = randn(33, 6, seed=2), randn(33, 6, seed=3)
    loss = point_feature(k=k)(s, pos, batch, t, pos.clone(), batch.clone())
    expected = F.mse_loss(s, t)
    assert loss.item() == expected.item()
    torch.testing.assert_close(loss, LOSSES.build(dict(type='FeatureMSELoss'))(s, t),
                               rtol=0, atol=0)


def test_point_feature_by_hand():
    t_pos = torch.tensor([[0.0, 0, 0], [1.0, 0, 0]], dtype=torch.float64)
    t_feats = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    s_pos = torch.tensor([[0.25, 0, 0]], dtype=torch.float64)
    s_feats = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    one = torch.zeros(1, dtype=torch.long)
    two = torch.zeros(2, dtype=torch.long)
    # d^2 = 1/16 and 9/16: weights 16 and 16/9, normalised 0.9 and 0.1 -> [0.9, 0.2];
    # MSE = ((1 - 0.9)^2 + (1 - 0.2)^2) / 2 = 0.325
    loss = point_feature(k=2, eps=0.0)(s_feats, s_pos, one, t_feats, t_pos, two)
    assert loss.item() == pytest.approx(0.325, rel=1e-12)
    # Default eps only perturbs this at the 1e-8 level.
    loss = point_feature(k=2)(s_feats, s_pos, one, t_feats, t_pos, two)
    assert loss.item() == pytest.approx(0.325, rel=1e-6)
    # k=1: the nearest teacher point only -> [1, 0]; MSE = (0 + 1) / 2
    loss = point_feature(k=1)(s_feats, s_pos, one, t_feats, t_pos, two)
    assert loss.item() == pytest.approx(0.5, rel=1e-12)


def test_point_feature_never_mixes_clouds():
    # Cloud 0's student point at x=0.9 has its own teacher points at x=0 and x=10, but cloud 1's
    # teacher point at x=1 is the nearest of all: mixing clouds would change the value.
    t_pos = torch.tensor([[0.0, 0, 0], [10.0, 0, 0], [1.0, 0, 0]], dtype=torch.float64)
    t_feats = torch.tensor([[1.0], [5.0], [100.0]], dtype=torch.float64)
    t_batch = torch.tensor([0, 0, 1])
    s_pos = torch.tensor([[0.9, 0, 0], [0.0, 0, 0]], dtype=torch.float64)
    s_feats = torch.tensor([[2.0], [3.0]], dtype=torch.float64)
    s_batch = torch.tensor([0, 1])
    loss = point_feature(k=2, eps=0.0)(s_feats, s_pos, s_batch, t_feats, t_pos, t_batch)
    w0, w1 = 1 / 0.81, 1 / 82.81
    interp0 = (w0 * 1 + w1 * 5) / (w0 + w1)
    interp1 = 100.0  # cloud 1 has a single teacher point (fewer than k: all of them)
    expected = ((2 - interp0) ** 2 + (3 - interp1) ** 2) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    # The same points as one cloud give a different value.
    mixed = point_feature(k=2, eps=0.0)(s_feats, s_pos, torch.zeros(2, dtype=torch.long),
                                         t_feats, t_pos, torch.zeros(3, dtype=torch.long))
    assert abs(mixed.item() - expected) > 1


def test_point_feature_matches_brute_force_on_different_point_sets():
    s_sizes, t_sizes = [9, 5, 7], [15, 2, 11]
    s_pos, t_pos = randn(21, 3, seed=4), randn(28, 3, seed=5)
    s_batch, t_batch = cloud_batch(s_sizes), cloud_batch(t_sizes)
    s_feats, t_feats = randn(21, 4, seed=6), randn(28, 4, seed=7)
    target = brute_force_interpolation(s_pos, s_batch, t_feats, t_pos, t_batch, 3, 1e-8)
    loss = point_feature()(s_feats, s_pos, s_batch, t_feats, t_pos, t_batch)
    assert loss.item() == pytest.approx(((s_feats - target) ** 2).mean().item(), rel=1e-10)
    normed = point_feature(normalize=True)(s_feats, s_pos, s_batch, t_feats, t_pos, t_batch)
    expected = ((F.normalize(s_feats, dim=1) - F.normalize(target, dim=1)) ** 2).mean()
    assert normed.item() == pytest.approx(expected.item(), rel=1e-10)


def test_point_feature_gradient_reaches_student_only():
    s_pos, t_pos = randn(10, 3, seed=8), randn(14, 3, seed=9)
    s_batch, t_batch = cloud_batch([6, 4]), cloud_batch([7, 7])
    s = randn(10, 5, seed=10).requires_grad_()
    t = randn(14, 5, seed=11).requires_grad_()
    s_pos.requires_grad_()
    t_pos.requires_grad_()
    loss_fn = point_feature()
    loss_fn(s, s_pos, s_batch, t, t_pos, t_batch).backward()
    target = loss_fn.interpolate(s_pos, s_batch, t, t_pos, t_batch)
    torch.testing.assert_close(s.grad, 2 * (s - target).detach() / s.numel())
    assert t.grad is None and t_pos.grad is None and s_pos.grad is None


def test_point_feature_errors_name_tensors():
    loss = point_feature()
    pos, batch = randn(6, 3), cloud_batch([3, 3])
    with pytest.raises(ValueError, match='student_feats has 4 channels but teacher_feats has 5'):
        loss(randn(6, 4), pos, batch, randn(6, 5), pos, batch)
    with pytest.raises(ValueError, match=r'student_pos must be .*student_feats \(N = 6\)'):
        loss(randn(6, 4), randn(5, 3), batch, randn(6, 4), pos, batch)
    with pytest.raises(ValueError, match=r'teacher_batch must be \[N\].*teacher_feats'):
        loss(randn(6, 4), pos, batch, randn(6, 4), pos, batch[:5])
    with pytest.raises(ValueError, match='student_batch must be sorted'):
        loss(randn(6, 4), pos, batch.flip(0), randn(6, 4), pos, batch)
    with pytest.raises(ValueError, match=r'student_batch has points in clouds \[1\] where '
                                         r'teacher_batch has none'):
        loss(randn(6, 4), pos, batch, randn(6, 4), pos, torch.zeros(6, dtype=torch.long))


# ---------------------------------------------------------------------------------------------
# PointDistillerLoss


def point_distiller(student_channels=3, teacher_channels=5, **kwargs):
    loss = LOSSES.build(dict(type='PointDistillerLoss', student_channels=student_channels,
                             teacher_channels=teacher_channels, **kwargs)).double()
    with torch.no_grad():  # fixed, seeded connector weights
        for i, p in enumerate(loss.parameters()):
            p.copy_(randn(*p.shape, seed=100 + i) * 0.5)
    return loss


def brute_force_fps(pos, m):
    """FPS from the first point, explicit loops; local indices of min(m, n) picks."""
    n = len(pos)
    picked, min_d = [0], [math.inf] * n
    while len(picked) < min(m, n):
        last = pos[picked[-1]]
        min_d = [min(md, sum((a - b) ** 2 for a, b in zip(p, last))) for md, p in zip(min_d, pos)]
        picked.append(max(range(n), key=lambda i: min_d[i]))
    return picked


def brute_force_point_distiller(loss, s_feats, t_feats, batch, pos, graph_feats=None):
    """The loss from its definition: per cloud, cdist graph, edge MLP with the loss's own weights
    written out, max over neighbours, critical-point shares by loops over channels."""
    w1, b1 = loss.edge_mlp[0].weight.detach(), loss.edge_mlp[0].bias.detach()
    w2, b2 = loss.edge_mlp[2].weight.detach(), loss.edge_mlp[2].bias.detach()
    if graph_feats is None:
        graph_feats = t_feats if loss.graph_space == 'feature' else pos
    total, num_centres = 0.0, 0
    for b in batch.unique().tolist():
        idx = (batch == b).nonzero().flatten()
        fs, ft, g = s_feats[idx].detach(), t_feats[idx].detach(), graph_feats[idx]
        n, channels = len(idx), ft.shape[1]
        centres = list(range(n)) if loss.num_centers is None else \
            brute_force_fps(pos[idx].tolist(), loss.num_centers)
        share = [0.0] * n
        for c in range(channels):
            top = ft[:, c].max()
            winners = [i for i in range(n) if ft[i, c] == top]
            for i in winners:
                share[i] += 1.0 / len(winners) / channels
        weights = [share[i] for i in centres]
        mean = sum(weights) / len(weights)
        weights = [w / mean for w in weights] if mean > 0 else [1.0] * len(weights)
        dist = torch.cdist(g, g)
        for w, i in zip(weights, centres):
            nbrs = dist[i].argsort()[:loss.k].tolist()
            student = None
            for j in nbrs:
                edge = torch.cat([fs[j] - fs[i], fs[i]])
                out = w2 @ torch.relu(w1 @ edge + b1) + b2
                student = out if student is None else torch.maximum(student, out)
            teacher = ft[nbrs].max(0).values
            err = ((student - teacher) ** 2).mean().item()
            total += (w if loss.reweight else 1.0) * err
            num_centres += 1
    return total / num_centres


CASES = [dict(), dict(graph_space='coord'), dict(reweight=False), dict(num_centers=5),
         dict(num_centers=5, graph_space='coord', reweight=False), dict(k=1), dict(k=20)]


@pytest.mark.parametrize('kwargs', CASES, ids=lambda kw: str(kw) or 'default')
def test_point_distiller_matches_brute_force(kwargs):
    kwargs = dict(dict(k=4), **kwargs)
    sizes = [12, 3, 9]  # the middle cloud is smaller than k
    batch, pos = cloud_batch(sizes), randn(24, 3, seed=20)
    s, t = randn(24, 3, seed=21), randn(24, 5, seed=22).relu()
    loss = point_distiller(**kwargs)
    value = loss(s, t, batch, pos)
    expected = brute_force_point_distiller(loss, s, t, batch, pos)
    assert value.item() == pytest.approx(expected, rel=1e-5, abs=1e-12)


def test_point_distiller_center_sampling_is_fps():
    sizes = [12, 3, 9]
    batch, pos = cloud_batch(sizes), randn(24, 3, seed=23)
    centres = point_distiller(num_centers=5).sample_centers(pos, batch)
    expected, start = [], 0
    for n in sizes:
        expected += [start + i for i in brute_force_fps(pos[start:start + n].tolist(), 5)]
        start += n
    assert centres.tolist() == expected


def test_point_distiller_reweight_by_hand():
    # Channel 0: point 0 is the max. Channel 1: points 0 and 1 tie (half a channel each).
    # Shares (per channel count / 2): [0.75, 0.25, 0]; mean 1/3 -> weights [2.25, 0.75, 0].
    t = torch.tensor([[3.0, 1.0], [1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    batch = torch.zeros(3, dtype=torch.long)
    loss = point_distiller(student_channels=2, teacher_channels=2, k=1)
    torch.testing.assert_close(loss.point_shares(t, batch),
                               torch.tensor([0.75, 0.25, 0.0], dtype=torch.float64))
    weights = loss.center_weights(t, batch, torch.arange(3))
    torch.testing.assert_close(weights, torch.tensor([2.25, 0.75, 0.0], dtype=torch.float64))
    # k=1: each centre is its only neighbour, s_i = MLP([0, f_i]) and t_i = f_i.
    s = randn(3, 2, seed=24)
    mlp_out = loss.edge_mlp(torch.cat([torch.zeros_like(s), s], dim=1)).detach()
    err = ((mlp_out - t) ** 2).mean(1)
    expected = (2.25 * err[0] + 0.75 * err[1] + 0 * err[2]) / 3
    assert loss(s, t, batch).item() == pytest.approx(expected.item(), rel=1e-12)
    # A cloud whose centres all have share 0 falls back to weight 1.
    t2 = torch.tensor([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [5.0, 5.0]], dtype=torch.float64)
    weights = point_distiller(student_channels=2, teacher_channels=2).center_weights(
        t2, torch.zeros(4, dtype=torch.long), torch.tensor([1, 2]))
    torch.testing.assert_close(weights, torch.ones(2, dtype=torch.float64))


def test_point_distiller_graph_is_the_teachers():
    batch, pos = cloud_batch([10, 8]), randn(18, 3, seed=25)
    s, t = randn(18, 3, seed=26), randn(18, 5, seed=27).relu()
    loss = point_distiller(k=3)
    # The student's own kNN sets differ from the teacher's here.
    teacher_sets = loss.build_graph(t, batch, torch.arange(18))
    student_sets = loss.build_graph(s, batch, torch.arange(18))
    assert not torch.equal(teacher_sets[1], student_sets[1])
    value = loss(s, t, batch).item()
    assert value == pytest.approx(brute_force_point_distiller(loss, s, t, batch, pos), rel=1e-5)
    with_student_graph = brute_force_point_distiller(loss, s, t, batch, pos, graph_feats=s)
    assert abs(value - with_student_graph) > 1e-3
    # Changing the student features leaves the neighbour sets alone: the loss is still the
    # brute force over the teacher's graph.
    s2 = randn(18, 3, seed=28) * 10
    assert loss(s2, t, batch).item() == pytest.approx(
        brute_force_point_distiller(loss, s2, t, batch, pos), rel=1e-5)


def test_point_distiller_gradients():
    batch = cloud_batch([7, 6])
    s = randn(13, 3, seed=29).requires_grad_()
    t = randn(13, 5, seed=30).relu().requires_grad_()
    loss = point_distiller(k=3)
    loss(s, t, batch).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None
    for p in loss.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_point_distiller_aligns_a_student_with_more_points():
    """A student holding a shuffled superset of the teacher's points (per cloud) gives the same
    loss as a student holding exactly the teacher's points."""
    loss = point_distiller(graph_space='coord')
    batch, pos, t = cloud_batch([4, 3]), randn(7, 3, seed=1), randn(7, 5, seed=2)
    s = randn(7, 3, seed=3)
    expected = loss(s, t, batch, pos=pos)
    # the student: cloud 0 = teacher points 0..3 plus 2 extra, cloud 1 = points 4..6 plus 1
    extra_pos, extra_feats = randn(3, 3, seed=4) + 5.0, randn(3, 3, seed=5)
    order0, order1 = torch.tensor([5, 2, 0, 4, 3, 1]), torch.tensor([2, 3, 0, 1])
    pos0, s0 = torch.cat([pos[:4], extra_pos[:2]]), torch.cat([s[:4], extra_feats[:2]])
    pos1, s1 = torch.cat([pos[4:], extra_pos[2:]]), torch.cat([s[4:], extra_feats[2:]])
    student_pos = torch.cat([pos0[order0], pos1[order1]])
    student = torch.cat([s0[order0], s1[order1]])
    got = loss(student, t, batch, pos=pos, student_pos=student_pos,
               student_batch=cloud_batch([6, 4]))
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)


def test_point_distiller_errors():
    loss = point_distiller()
    batch = cloud_batch([4, 4])
    with pytest.raises(ValueError, match=r'student_feats \(7, 3\) and teacher_feats \(8, 5\) '
                                         r'must be \[N, C\] over the same N points'):
        loss(randn(7, 3), randn(8, 5), batch)
    with pytest.raises(ValueError, match=r'batch must be \[N\].*teacher_feats'):
        loss(randn(8, 3), randn(8, 5), batch[:7])
    with pytest.raises(ValueError, match='student_feats has 4 channels.*student_channels=3'):
        loss(randn(8, 4), randn(8, 5), batch)
    with pytest.raises(ValueError, match='teacher_feats has 6 channels.*teacher_channels=5'):
        loss(randn(8, 3), randn(8, 6), batch)
    with pytest.raises(ValueError, match='student_batch differs from batch'):
        loss(randn(8, 3), randn(8, 5), batch, student_batch=cloud_batch([5, 3]))
    with pytest.raises(ValueError, match='student_pos needs pos and student_batch'):
        loss(randn(8, 3), randn(8, 5), batch, pos=randn(8, 3), student_pos=randn(8, 3))
    with pytest.raises(ValueError, match=r'batch has points in clouds \[1\] where student_batch'):
        loss(randn(4, 3), randn(8, 5), batch, pos=randn(8, 3), student_pos=randn(4, 3),
             student_batch=cloud_batch([4]))
    with pytest.raises(ValueError, match=r"pos .* is required with graph_space='coord'"):
        point_distiller(graph_space='coord')(randn(8, 3), randn(8, 5), batch)
    with pytest.raises(ValueError, match='pos .* is required with num_centers'):
        point_distiller(num_centers=2)(randn(8, 3), randn(8, 5), batch)
    with pytest.raises(ValueError, match='graph_space must be one of'):
        point_distiller(graph_space='both')


def test_registered():
    assert type(LOSSES.build(dict(type='PointFeatureLoss'))).__name__ == 'PointFeatureLoss'
    loss = LOSSES.build(dict(type='PointDistillerLoss', student_channels=4, teacher_channels=8))
    assert type(loss).__name__ == 'PointDistillerLoss'


# ---------------------------------------------------------------------------------------------
# Through the Distill algorithm

POINTNET_RECORDERS = dict(feat='encoder', pos=dict(source='encoder', kind='input'),
                          batch=dict(source='pool', kind='input', index=1))


def check_training_step(algo, x, labels, loss_modules):
    losses = algo.loss(x, dict(labels=labels))
    for key in ('distill.loss_point', 'distill.loss_pd'):
        assert torch.isfinite(losses[key]) and losses[key].item() > 0
    total, _ = algo.parse_losses(losses)
    student_before = [p.detach().clone() for p in algo.student.parameters()]
    teacher_before = [p.detach().clone() for p in algo.teachers['teacher'].parameters()]
    optim = OptimWrapper(torch.optim.SGD(algo.parameters(), lr=0.1))
    optim.backward(total)
    for module in (algo.student, *loss_modules):
        for name, p in module.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in algo.distiller.losses['loss_pd'].parameters())
    assert all(p.grad is None for p in algo.teachers['teacher'].parameters())
    optim.step()
    assert any(not torch.equal(a, p) for a, p in zip(student_before, algo.student.parameters()))
    for a, p in zip(teacher_before, algo.teachers['teacher'].parameters()):
        assert torch.equal(a, p)


def test_distill_pointnet_with_both_losses():
    torch.manual_seed(0)
    algo = Distill(
        student=dict(type='PointNetClassifier', width=0.125),
        teachers=dict(teacher=dict(model=dict(type='PointNetClassifier', width=0.5))),
        distiller=dict(
            recorders=dict(student=POINTNET_RECORDERS, teacher=POINTNET_RECORDERS),
            connectors=dict(feat_s=dict(type='LinearConnector', in_channels=128,
                                        out_channels=512)),
            losses=dict(
                loss_point=dict(type='PointFeatureLoss', inputs=dict(
                    student_feats=dict(source='student.feat', connector='feat_s'),
                    student_pos='student.pos', student_batch='student.batch',
                    teacher_feats='teacher.feat', teacher_pos='teacher.pos',
                    teacher_batch='teacher.batch')),
                loss_pd=dict(type='PointDistillerLoss', student_channels=128,
                             teacher_channels=512, k=8, num_centers=16, inputs=dict(
                                 student_feats='student.feat', teacher_feats='teacher.feat',
                                 batch='teacher.batch', pos='teacher.pos',
                                 student_batch='student.batch', student_pos='student.pos')))))
    x = torch.rand(2, 64, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    check_training_step(algo, x, torch.tensor([1, 3]),
                        [algo.distiller.connectors, algo.distiller.losses['loss_pd']])


def test_distill_pointnet2_different_ratios():
    """PointFeatureLoss between PointNet++ levels that keep different points (ratios differ);
    PointDistillerLoss needs the same points, so it uses the first SA level of each (same
    ratio)."""
    small = dict(type='PointNet2Classifier', radii=(0.4, 0.8), max_neighbors=8,
                 channels=((16, 32), (32, 64)), global_channels=(64, 128), head_channels=(32,))
    student = dict(small, ratios=(0.5, 0.125), width=0.5)
    teacher = dict(small, ratios=(0.5, 0.25))
    sa1 = dict(sa1=dict(source='sa1', index=0), sa1_pos=dict(source='sa1', index=1),
               sa1_batch=dict(source='sa1', index=2))
    recorders = dict(feat='sa_out', pos='sa_pos', batch='sa_batch', **sa1)
    torch.manual_seed(0)
    algo = Distill(
        student=student, teachers=dict(teacher=dict(model=teacher)),
        distiller=dict(
            recorders=dict(student=recorders, teacher=recorders),
            connectors=dict(feat_s=dict(type='LinearConnector', in_channels=32,
                                        out_channels=64)),
            losses=dict(
                loss_point=dict(type='PointFeatureLoss', inputs=dict(
                    student_feats=dict(source='student.feat', connector='feat_s'),
                    student_pos='student.pos', student_batch='student.batch',
                    teacher_feats='teacher.feat', teacher_pos='teacher.pos',
                    teacher_batch='teacher.batch')),
                loss_pd=dict(type='PointDistillerLoss', student_channels=16,
                             teacher_channels=32, k=4, graph_space='coord', inputs=dict(
                                 student_feats='student.sa1', teacher_feats='teacher.sa1',
                                 batch='teacher.sa1_batch', pos='teacher.sa1_pos',
                                 student_pos='student.sa1_pos',
                                 student_batch='student.sa1_batch')))))
    x = torch.rand(2, 64, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with algo.distiller.recording('student'), algo.distiller.recording('teacher'):
        algo.student(x)
        algo.teachers['teacher'](x)
        group_s = algo.distiller.recorder_groups['student']
        group_t = algo.distiller.recorder_groups['teacher']
        assert group_s.get('feat', '').shape[0] == 2 * 4  # 64 -> 32 -> 4 per cloud
        assert group_t.get('feat', '').shape[0] == 2 * 8  # 64 -> 32 -> 8 per cloud
    check_training_step(algo, x, torch.tensor([0, 2]),
                        [algo.distiller.connectors, algo.distiller.losses['loss_pd']])
