"""Tests of the point-cloud classifiers in ``mmkd.pointcloud.models`` (tiny configs)."""
import pytest
import torch

from mmkd.distill.recorders import RecorderGroup
from mmkd.pointcloud.models import (DGCNNClassifier, PointNet2Classifier, PointNetClassifier,
                                    parse_point_inputs)
from mmkd.registry import MODELS

NUM_CLASSES = 5

SMALL = {
    'PointNetClassifier': dict(channels=(8, 16), head_channels=(8,), num_classes=NUM_CLASSES),
    'PointNet2Classifier': dict(ratios=(0.5, 0.25), radii=(0.4, 0.8), max_neighbors=8,
                                channels=((8, 8), (16, 16)), global_channels=(16, 32),
                                head_channels=(8,), num_classes=NUM_CLASSES),
    'DGCNNClassifier': dict(k=5, channels=(8, 8, 16), emb_channels=32, head_channels=(8,),
                            num_classes=NUM_CLASSES),
}
ALL = list(SMALL)


def build(name, **kwargs):
    cfg = dict(type=name, **SMALL[name])
    cfg.update(kwargs)
    return MODELS.build(cfg)


def clouds(sizes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pos = torch.rand(sum(sizes), 3, generator=gen) * 2 - 1
    batch = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    return pos, batch


def num_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('name', ALL)
def test_ragged_shapes_and_per_cloud_consistency(name):
    model = build(name).eval()
    sizes = [40, 64, 25]
    pos, batch = clouds(sizes)
    with torch.no_grad():
        logits = model(dict(pos=pos, batch=batch))
        assert logits.shape == (3, NUM_CLASSES)
        assert torch.isfinite(logits).all()
        # Each cloud alone gives the same logits as inside the ragged batch.
        start = 0
        for i, n in enumerate(sizes):
            alone = model(dict(pos=pos[start:start + n]))  # no batch: one cloud
            torch.testing.assert_close(alone[0], logits[i], rtol=1e-4, atol=1e-5)
            start += n


@pytest.mark.parametrize('name', ALL)
def test_dense_equals_ragged(name):
    model = build(name).eval()
    pos, batch = clouds([64, 64], seed=1)
    with torch.no_grad():
        ragged = model(dict(pos=pos, batch=batch))
        dense = model(pos.view(2, 64, 3))
    torch.testing.assert_close(dense, ragged)


@pytest.mark.parametrize('name', ALL)
def test_loss_backward_reaches_all_params(name):
    torch.manual_seed(0)  # train-mode dropout draws from the global RNG: some draws starve a layer
    model = build(name).train()
    pos, batch = clouds([64, 48], seed=2)
    labels = torch.tensor([1, 3])
    losses = model(dict(pos=pos, batch=batch), dict(labels=labels), mode='loss')
    assert set(losses) == {'loss_cls'}
    assert torch.isfinite(losses['loss_cls'])
    losses['loss_cls'].backward()
    # the shift (bias) of the last batch norm before the global pool moves every cloud's pooled
    # feature alike, which the head's batch norm removes in training: its gradient is exactly 0
    # (rounding leaves ~1e-9 with 2 threads, 0.0 with 1), so only its presence is checked
    shift_removed = {'PointNetClassifier': 'encoder.4.bias',
                     'PointNet2Classifier': 'global_sa.mlp.4.bias'}.get(name)
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        if pname != shift_removed:
            assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize('name', ALL)
def test_predict_mode(name):
    model = build(name).eval()
    pos, batch = clouds([30, 64])
    labels = torch.tensor([0, 4])
    with torch.no_grad():
        results = model(dict(pos=pos, batch=batch), dict(labels=labels), mode='predict')
        unlabelled = model(dict(pos=pos, batch=batch), None, mode='predict')
    assert len(results) == 2
    for result, label in zip(results, labels):
        assert result['scores'].shape == (NUM_CLASSES, )
        assert int(result['pred_label']) == int(result['scores'].argmax())
        assert int(result['gt_label']) == int(label)
    assert all('gt_label' not in r for r in unlabelled)


@pytest.mark.parametrize('name', ['PointNetClassifier', 'DGCNNClassifier'])
def test_permutation_invariance(name):
    model = build(name).eval()
    sizes = [64, 50]
    pos, batch = clouds(sizes, seed=3)
    gen = torch.Generator().manual_seed(7)
    perm = torch.cat([torch.randperm(64, generator=gen), 64 + torch.randperm(50, generator=gen)])
    with torch.no_grad():
        out = model(dict(pos=pos, batch=batch))
        shuffled = model(dict(pos=pos[perm], batch=batch))
    torch.testing.assert_close(shuffled, out, rtol=1e-4, atol=1e-5)


def test_pointnet2_eval_deterministic_without_global_rng():
    model = build('PointNet2Classifier').eval()
    pos, batch = clouds([64, 40], seed=4)
    state = torch.get_rng_state()
    with torch.no_grad():
        a = model(dict(pos=pos, batch=batch))
        b = model(dict(pos=pos, batch=batch))
    assert torch.equal(a, b)
    assert torch.equal(torch.get_rng_state(), state)  # FPS from the first point: no RNG


@pytest.mark.parametrize('name', ALL)
def test_construction_is_deterministic_and_leaves_global_rng(name):
    state = torch.get_rng_state()
    a, b = build(name), build(name)
    assert torch.equal(torch.get_rng_state(), state)
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and torch.equal(pa, pb), na
    c = build(name, init_seed=1)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_recorded_shapes_pointnet():
    model = build('PointNetClassifier').eval()
    pos, batch = clouds([64, 30])
    rec = RecorderGroup(model, dict(enc='encoder', pool='pool', logits='head'), 'student')
    with rec, torch.no_grad():
        logits = model(dict(pos=pos, batch=batch))
    assert rec.get('enc', 't').shape == (94, 16)
    assert rec.get('pool', 't').shape == (2, 16)
    torch.testing.assert_close(rec.get('logits', 't'), logits)


def test_recorded_shapes_pointnet2():
    model = build('PointNet2Classifier').eval()
    pos, batch = clouds([64, 30])
    rec = RecorderGroup(model, dict(feat='sa_out', pos='sa_pos', batch='sa_batch',
                                    sa1=dict(source='sa1', index=0), glob='global_sa'),
                        'student')
    with rec, torch.no_grad():
        model(dict(pos=pos, batch=batch))
    # ceil(0.5 * n) then ceil(0.25 * that) points per cloud: 64 -> 32 -> 8, 30 -> 15 -> 4.
    assert rec.get('sa1', 't').shape == (32 + 15, 8)
    assert rec.get('feat', 't').shape == (12, 16)
    sa_pos = rec.get('pos', 't')
    assert sa_pos.shape == (12, 3)
    assert torch.equal(rec.get('batch', 't'), torch.tensor([0] * 8 + [1] * 4))
    # The sampled positions are input points of the right cloud.
    for p, b in zip(sa_pos, rec.get('batch', 't')):
        assert ((pos[batch == b] - p).abs().sum(1) == 0).any()
    assert rec.get('glob', 't').shape == (2, 32)

    # Teacher and student with the same ratios sample the same points (rows align).
    teacher = build('PointNet2Classifier', width=2.0).eval()
    rec_t = RecorderGroup(teacher, dict(feat='sa_out', pos='sa_pos'), 'teacher')
    with rec_t, torch.no_grad():
        teacher(dict(pos=pos, batch=batch))
    assert rec_t.get('feat', 't').shape == (12, 32)
    assert torch.equal(rec_t.get('pos', 't'), sa_pos)


def test_recorded_shapes_dgcnn():
    model = build('DGCNNClassifier').eval()
    pos, batch = clouds([64, 30])
    rec = RecorderGroup(model, dict(e0='edge_convs.0', e2='edge_convs.2', emb='embed',
                                    pool='pool'), 'student')
    with rec, torch.no_grad():
        model(dict(pos=pos, batch=batch))
    assert rec.get('e0', 't').shape == (94, 8)
    assert rec.get('e2', 't').shape == (94, 16)
    assert rec.get('emb', 't').shape == (94, 32)
    assert rec.get('pool', 't').shape == (2, 64)


def test_pointnet_param_count_as_configured():
    def expected(channels, head, classes=NUM_CLASSES):
        total, c_in = 0, 3
        for c in channels:  # Linear without bias + BN (weight, bias)
            total += c_in * c + 2 * c
            c_in = c
        for c in head:
            total += c_in * c + 2 * c
            c_in = c
        return total + c_in * classes + classes

    teacher = build('PointNetClassifier', channels=(16, 32), head_channels=(16,))
    student = build('PointNetClassifier', channels=(16, 32), head_channels=(16,), width=0.5)
    assert num_params(teacher) == expected((16, 32), (16,))
    assert num_params(student) == expected((8, 16), (8,))


@pytest.mark.parametrize('name', ALL)
def test_width_makes_smaller_student(name):
    teacher, student = build(name, width=2.0), build(name, width=0.5)
    assert num_params(student) < num_params(build(name)) < num_params(teacher)
    assert student.out_channels * 4 == teacher.out_channels


def test_features_input():
    model = build('PointNetClassifier', in_channels=2).eval()
    pos, batch = clouds([10, 12])
    x = torch.rand(22, 2)
    with torch.no_grad():
        ragged = model(dict(pos=pos, batch=batch, x=x))
        dense = model(torch.cat([pos, x], 1)[:20].view(2, 10, 5))
    assert ragged.shape == dense.shape == (2, NUM_CLASSES)
    with pytest.raises(ValueError, match='inputs'):
        model(dict(pos=pos, batch=batch))  # features missing
    dg = build('DGCNNClassifier', in_channels=2).eval()
    p2 = build('PointNet2Classifier', in_channels=2).eval()
    with torch.no_grad():
        assert dg(dict(pos=pos, batch=batch, x=x)).shape == (2, NUM_CLASSES)
        assert p2(dict(pos=pos, batch=batch, x=x)).shape == (2, NUM_CLASSES)


@pytest.mark.parametrize('bad', [
    torch.rand(10, 3),  # 2-D tensor without batch dict
    torch.rand(2, 10, 4),  # wrong last dim
    torch.zeros(2, 10, 3, dtype=torch.long),
    [torch.rand(10, 3)],
    dict(batch=torch.zeros(10, dtype=torch.long)),  # no pos
    dict(pos=torch.rand(10, 2)),
    dict(pos=torch.rand(10, 3), batch=torch.zeros(9, dtype=torch.long)),
    dict(pos=torch.rand(10, 3), batch=torch.zeros(10)),  # float batch
    dict(pos=torch.rand(4, 3), batch=torch.tensor([1, 0, 0, 1])),  # unsorted
    dict(pos=torch.rand(4, 3), x=torch.rand(4, 2)),  # features the model does not take
])
def test_bad_inputs_raise(bad):
    model = build('PointNetClassifier')
    with pytest.raises(ValueError, match='inputs'):
        model(bad)


def test_bad_mode_and_missing_labels():
    model = build('PointNetClassifier')
    pos, batch = clouds([8, 8])
    with pytest.raises(ValueError, match='mode'):
        model(dict(pos=pos, batch=batch), mode='nope')
    with pytest.raises(KeyError, match='labels'):
        model(dict(pos=pos, batch=batch), None, mode='loss')


def test_parse_dense():
    pos, x, batch, num = parse_point_inputs(torch.rand(3, 5, 3))
    assert pos.shape == (15, 3) and x is None and num == 3
    assert torch.equal(batch, torch.arange(3).repeat_interleave(5))


@pytest.mark.parametrize('training', [True, False])
@pytest.mark.parametrize('regular', [True, False])
def test_dgcnn_edge_conv_matches_reference(training, regular):
    from torch_geometric.nn import EdgeConv

    from mmkd.pointcloud.models import DGCNNEdgeConv
    from mmkd.pointcloud.ops import knn_graph
    torch.manual_seed(0)
    conv = DGCNNEdgeConv(4, 6)
    bn = conv.nn[1]
    with torch.no_grad():  # non-trivial BN statistics, including negative scales
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2)
        bn.weight.normal_()
        bn.bias.normal_()
    conv.train(training)
    pos, batch = clouds([20, 13], seed=5)
    x = torch.randn(33, 4, requires_grad=True)
    edge_index = knn_graph(pos, 4, batch, loop=True)
    if not regular:  # drop some edges: irregular degrees, one node without edges
        keep = (torch.arange(edge_index.size(1)) % 3 != 0) & (edge_index[1] != 7)
        edge_index = edge_index[:, keep]
    fast = conv(x, edge_index)
    grad_fast = torch.autograd.grad(fast.square().sum(), x)[0]
    ref = EdgeConv.forward(conv, x, edge_index)
    grad_ref = torch.autograd.grad(ref.square().sum(), x)[0]
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_fast, grad_ref, rtol=1e-4, atol=1e-5)
    if not regular:
        assert (fast[7] == 0).all()


@pytest.mark.parametrize('name', ALL)
def test_mmengine_train_step(name):
    from mmengine.optim import OptimWrapper
    model = build(name)
    pos, batch = clouds([32, 40])
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    data = dict(inputs=dict(pos=pos, batch=batch), data_samples=dict(labels=torch.tensor([0, 1])))
    before = [p.detach().clone() for p in model.parameters()]
    log_vars = model.train_step(data, optim)
    assert torch.isfinite(log_vars['loss']) and log_vars['loss'] == log_vars['loss_cls'] > 0
    changed = [not torch.equal(p, q) for p, q in zip(model.parameters(), before)]
    assert any(changed) and all(torch.isfinite(p).all() for p in model.parameters())
    outputs = model.val_step(data)
    assert [int(o['gt_label']) for o in outputs] == [0, 1]
    for o in outputs:
        assert int(o['pred_label']) == int(o['scores'].argmax())
        assert float(o['scores'].detach().sum()) == pytest.approx(1.0, abs=1e-5)


def test_hidden_labels_are_skipped_by_the_loss():
    """Labels of -1 (LabelScarce's hidden labels) do not reach the loss: a batch without any
    known label gives 0, and the known ones give the cross-entropy of those samples only."""
    model = PointNetClassifier(num_classes=3, width=0.125).eval()  # no dropout noise
    points = torch.randn(4, 32, 3)
    logits = model(points)
    hidden = model(points, dict(labels=torch.full((4,), -1)), mode='loss')['loss_cls']
    assert hidden.item() == 0.0
    some = model(points, dict(labels=torch.tensor([2, -1, 0, -1])), mode='loss')['loss_cls']
    expected = torch.nn.functional.cross_entropy(logits[[0, 2]], torch.tensor([2, 0]))
    assert some.item() == pytest.approx(expected.item(), rel=1e-5)
