"""Cross-modal losses: golden values against independent loops, gradients, errors."""
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from conftest import REPO
from mmkd.crossmodal.losses import CrossModalInfoNCELoss, PointPixelContrastiveLoss
from mmkd.pointcloud.views import project_depth_views
from mmkd.registry import LOSSES


# ----------------------------------------------------------------------------- PPKT
def ppkt_case(seed=0):
    """2 clouds of 2 points, 2 views of 4x4 pixels, teacher maps at 2x2 (half resolution)."""
    g = torch.Generator().manual_seed(seed)
    student = torch.randn(4, 3, generator=g)
    maps = torch.randn(2, 2, 3, 2, 2, generator=g)  # [B, V, C, h, w]
    pixels = torch.tensor([[[0, 0], [3, 1], [2, 2], [1, 3]],       # view 0: (row, col) per point
                           [[3, 3], [0, 2], [1, 0], [2, 1]]])      # view 1
    visible = torch.tensor([[True, True, False, True],
                            [False, True, True, True]])
    batch = torch.tensor([0, 0, 1, 1])
    return student, maps, pixels, visible, batch


def ppkt_reference(student, maps, pixels, visible, batch, tau, image_size, symmetric=False,
                   pairs=None):
    """Plain loops: enumerate pairs view-major, look up the teacher pixel, InfoNCE."""
    h = maps.shape[-2]
    if pairs is None:
        pairs = [(v, n) for v in range(visible.shape[0]) for n in range(visible.shape[1])
                 if visible[v, n]]

    def unit(x):
        return [float(a) / math.sqrt(sum(float(b) ** 2 for b in x)) for a in x]

    s = [unit(student[n]) for v, n in pairs]
    t = []
    for v, n in pairs:
        row, col = int(pixels[v, n, 0]), int(pixels[v, n, 1])
        r, c = row * h // image_size, col * h // image_size
        t.append(unit(maps[int(batch[n]), v, :, r, c]))
    k = len(pairs)
    sim = [[sum(a * b for a, b in zip(s[i], t[j])) / tau for j in range(k)] for i in range(k)]

    def nce(m):
        return -sum(m[i][i] - math.log(sum(math.exp(x) for x in m[i])) for i in range(k)) / k

    loss = nce(sim)
    if symmetric:
        loss = (loss + nce([[sim[j][i] for j in range(k)] for i in range(k)])) / 2
    return loss


@pytest.mark.parametrize('symmetric', [False, True])
def test_ppkt_matches_loop_with_scaled_pixels(symmetric):
    student, maps, pixels, visible, batch = ppkt_case()
    loss = PointPixelContrastiveLoss(num_pairs=100, temperature=0.5, image_size=4,
                                     symmetric=symmetric)
    value = loss(student, maps, pixels, visible, batch)
    expected = ppkt_reference(student, maps, pixels, visible, batch, 0.5, 4, symmetric)
    assert value.item() == pytest.approx(expected, rel=1e-5)


def test_ppkt_hand_computed_two_pairs():
    # Two pairs with orthogonal unit features: s_0 = t_0 = e0, s_1 = t_1 = e1, tau = 1:
    # each anchor: -log(e / (e + 1)).
    student = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    maps = torch.zeros(1, 1, 2, 2, 2)
    maps[0, 0, :, 0, 1] = torch.tensor([5.0, 0.0])   # pixel (0, 1) of the 2x2 map
    maps[0, 0, :, 1, 0] = torch.tensor([0.0, 1.0])   # pixel (1, 0)
    pixels = torch.tensor([[[1, 3], [2, 0]]])        # in an 4x4 image: -> (0, 1) and (1, 0)
    visible = torch.tensor([[True, True]])
    loss = PointPixelContrastiveLoss(temperature=1.0, image_size=4)(
        student, maps, pixels, visible, torch.tensor([0, 0]))
    assert loss.item() == pytest.approx(-math.log(math.e / (math.e + 1)), rel=1e-6)
    # batch may be omitted for one cloud
    again = PointPixelContrastiveLoss(temperature=1.0, image_size=4)(student, maps, pixels,
                                                                     visible)
    assert again.item() == pytest.approx(loss.item())


def test_ppkt_subsamples_num_pairs_with_global_rng():
    student, maps, pixels, visible, batch = ppkt_case(1)
    all_pairs = [(v, n) for v in range(2) for n in range(4) if visible[v, n]]
    torch.manual_seed(7)
    keep = torch.randperm(len(all_pairs))[:3]
    chosen = [all_pairs[i] for i in keep.tolist()]
    torch.manual_seed(7)
    value = PointPixelContrastiveLoss(num_pairs=3, temperature=0.2, image_size=4)(
        student, maps, pixels, visible, batch)
    expected = ppkt_reference(student, maps, pixels, visible, batch, 0.2, 4, pairs=chosen)
    assert value.item() == pytest.approx(expected, rel=1e-5)


def test_ppkt_gradients_reach_student_only():
    student, maps, pixels, visible, batch = ppkt_case()
    student.requires_grad_(True)
    maps.requires_grad_(True)
    PointPixelContrastiveLoss(image_size=4)(student, maps, pixels, visible, batch).backward()
    assert maps.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert student.grad[0].abs().sum() > 0  # point 0 is visible in view 0 only
    # no visible pair: 0, still differentiable
    student.grad = None
    zero = PointPixelContrastiveLoss(image_size=4)(student, maps, pixels,
                                                   torch.zeros_like(visible), batch)
    zero.backward()
    assert zero.item() == 0.0 and torch.equal(student.grad, torch.zeros_like(student))


def test_ppkt_with_project_depth_views_correspondences():
    # Real correspondences: teacher maps = the views themselves tiled over 2 channels.
    g = torch.Generator().manual_seed(0)
    points = torch.randn(2, 30, 3, generator=g)
    points = points / points.norm(dim=-1, keepdim=True) * 0.8
    views, pixels, visible = project_depth_views(points, num_views=2, image_size=8, radius=0,
                                                 return_pixels=True)
    assert pixels.shape == (2, 60, 2) and visible.any()
    maps = torch.cat([views, 1 - views], dim=2)  # [B, V, 2, 8, 8]
    batch = torch.arange(2).repeat_interleave(30)
    student = torch.randn(60, 2, generator=g, requires_grad=True)
    loss = PointPixelContrastiveLoss(num_pairs=1000, temperature=0.1)(
        student, maps, pixels, visible, batch)
    expected = ppkt_reference(student.detach(), maps, pixels, visible, batch, 0.1, 8)
    assert loss.item() == pytest.approx(expected, rel=1e-4)
    loss.backward()
    assert torch.isfinite(student.grad).all()


def test_ppkt_errors_name_tensors():
    student, maps, pixels, visible, batch = ppkt_case()
    loss = PointPixelContrastiveLoss(image_size=4)
    with pytest.raises(ValueError, match='student_feats has 2 channels but teacher_maps has 3'):
        loss(student[:, :2], maps, pixels, visible, batch)
    with pytest.raises(ValueError, match=r'teacher_maps must be per-view feature maps'):
        loss(student, maps[0], pixels, visible, batch)
    with pytest.raises(ValueError, match=r'pixels must be integer .* \[2, 4, 2\]'):
        loss(student, maps, pixels[:, :3], visible, batch)
    with pytest.raises(ValueError, match=r'visible must be a bool mask'):
        loss(student, maps, pixels, visible.long(), batch)
    with pytest.raises(ValueError, match=r'batch must be an integer tensor \[N_total\]'):
        loss(student, maps, pixels, visible, batch[:3])
    with pytest.raises(ValueError, match='batch names clouds outside'):
        loss(student, maps, pixels, visible, batch + 1)
    with pytest.raises(ValueError, match='batch is required'):
        loss(student, maps, pixels, visible)
    with pytest.raises(ValueError, match='num_pairs'):
        PointPixelContrastiveLoss(num_pairs=0)


# ----------------------------------------------------------------------------- ULIP InfoNCE
def infonce_reference(p, t, scale):
    def unit(x):
        return [float(a) / math.sqrt(sum(float(b) ** 2 for b in x)) for a in x]

    p = [unit(r) for r in p]
    t = [unit(r) for r in t]
    b = len(p)
    m = [[scale * sum(x * y for x, y in zip(p[i], t[j])) for j in range(b)] for i in range(b)]

    def nce(m):
        return -sum(m[i][i] - math.log(sum(math.exp(x) for x in m[i])) for i in range(b)) / b

    return (nce(m) + nce([[m[j][i] for j in range(b)] for i in range(b)])) / 2


def embeds(seed=0, b=4, d=5, v=None):
    g = torch.Generator().manual_seed(seed)
    student = torch.randn(b, d, generator=g)
    teacher = torch.randn(b, d, generator=g) if v is None else torch.randn(b, v, d, generator=g)
    return student, teacher


def test_infonce_matches_loop_and_default_scale():
    student, teacher = embeds()
    value = CrossModalInfoNCELoss()(student, teacher)
    assert value.item() == pytest.approx(infonce_reference(student, teacher, 1 / 0.07), rel=1e-5)
    value = CrossModalInfoNCELoss(logit_scale=3.0)(student, teacher)
    assert value.item() == pytest.approx(infonce_reference(student, teacher, 3.0), rel=1e-5)
    # a forward logit_scale (e.g. a recorded one) overrides the loss's own
    value = CrossModalInfoNCELoss(logit_scale=3.0)(student, teacher, torch.tensor(10.0))
    assert value.item() == pytest.approx(infonce_reference(student, teacher, 10.0), rel=1e-5)


def test_infonce_averages_normalised_views():
    student, teacher = embeds(v=3)
    mean = []
    for row in teacher:
        units = [[float(a) / math.sqrt(sum(float(b) ** 2 for b in view)) for a in view]
                 for view in row]
        mean.append([sum(u[k] for u in units) / 3 for k in range(5)])
    value = CrossModalInfoNCELoss(logit_scale=5.0)(student, teacher)
    assert value.item() == pytest.approx(infonce_reference(student, mean, 5.0), rel=1e-5)


def test_infonce_gradients_student_and_learnable_scale_only():
    student, teacher = embeds()
    student.requires_grad_(True)
    teacher.requires_grad_(True)
    loss = CrossModalInfoNCELoss(logit_scale=2.0, learnable=True)
    assert [n for n, _ in loss.named_parameters()] == ['log_scale']
    value = loss(student, teacher)
    assert value.item() == pytest.approx(infonce_reference(student.detach(), teacher.detach(),
                                                           2.0), rel=1e-5)
    value.backward()
    assert teacher.grad is None
    assert student.grad.abs().sum() > 0 and loss.log_scale.grad is not None
    # fixed scale: no parameters, nothing in the state dict
    fixed = CrossModalInfoNCELoss()
    assert not list(fixed.parameters()) and not fixed.state_dict()
    # a learnable scale is clamped at max_logit_scale
    big = CrossModalInfoNCELoss(logit_scale=500.0, learnable=True, max_logit_scale=100.0)
    assert big.scale().item() == pytest.approx(100.0, rel=1e-5)


def test_ulip_recipe_is_two_instances_of_one_registered_loss():
    """configs/crossmodal/ulip_pointclip_shapes.py: the point-text and the point-image terms are
    two CrossModalInfoNCELoss instances, each learning its own logit scale from its own term."""
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'crossmodal', 'ulip_pointclip_shapes.py'))
    specs = cfg.model.distiller.losses
    assert sorted(specs) == ['loss_pc_image', 'loss_pc_text']
    pc_text, pc_image = (LOSSES.build({k: v for k, v in specs[name].items() if k != 'inputs'})
                         for name in ('loss_pc_text', 'loss_pc_image'))
    assert type(pc_text) is type(pc_image) is LOSSES.get('CrossModalInfoNCELoss')
    student, text = embeds(0)
    _, image = embeds(1, v=2)
    alone = [torch.autograd.grad(loss(student, teacher), loss.log_scale)[0]
             for loss, teacher in ((pc_text, text), (pc_image, image))]
    (pc_text(student, text) + pc_image(student, image)).backward()
    torch.testing.assert_close(pc_text.log_scale.grad, alone[0])
    torch.testing.assert_close(pc_image.log_scale.grad, alone[1])
    assert not torch.allclose(alone[0], alone[1])


def test_infonce_errors_name_tensors():
    student, teacher = embeds()
    loss = CrossModalInfoNCELoss()
    with pytest.raises(ValueError, match=r'student_embeds must be \[B, D\]'):
        loss(student[0], teacher)
    with pytest.raises(ValueError, match=r'teacher_embeds must be \[B, D\]'):
        loss(student, teacher[0])
    with pytest.raises(ValueError, match=r'student_embeds has shape \(4, 5\) but teacher_embeds '
                                         r'has shape \(3, 5\)'):
        loss(student, teacher[:3])
    with pytest.raises(ValueError, match='logit_scale must be a scalar'):
        loss(student, teacher, torch.ones(2))
    with pytest.raises(ValueError, match='logit_scale must be > 0'):
        CrossModalInfoNCELoss(logit_scale=0.0)
