"""Golden-value tests for the CLIP distillation losses (mmkd.vlm.losses).

References are recomputed here from the papers' formulas with plain Python loops over the
anchors i and candidates j (open_clip's DistillClipLoss, CLIP-KD's CRD/FD/MFD/GD/ICL/AFD,
TinyCLIP's affinity mimicking); GD's closed-form gradients are checked against
torch.autograd.grad of the contrastive loss.
"""
import math

import pytest
import torch
import torch.nn.functional as F

import mmkd.vlm.losses  # noqa: F401  (registers the losses)
from mmkd.registry import LOSSES
from mmkd.vlm.losses import (AFDLoss, AffinityMimickingLoss, ClipAffinityLoss, ClipCRDLoss,
                             FDLoss, GDLoss, ICLLoss, MFDLoss)
from mmkd.vlm.losses.gd import contrastive_grads

B, D_S, D_T = 5, 4, 6


def randn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def embeds(dim_s=D_S, dim_t=D_T, seed=0, scale=2.0):
    """Unnormalised student (image, text) and teacher (image, text) embeddings."""
    return (randn(B, dim_s, seed=seed + 1) * scale, randn(B, dim_s, seed=seed + 2) * scale,
            randn(B, dim_t, seed=seed + 3) * scale, randn(B, dim_t, seed=seed + 4) * scale)


S_SCALE, T_SCALE = 7.5, 12.0


# ----------------------------------------------------------------------------------------------
# Plain-Python reference maths (lists of floats).
# ----------------------------------------------------------------------------------------------
def unit_rows(x):
    rows = x.tolist() if torch.is_tensor(x) else x
    return [[v / math.sqrt(sum(a * a for a in row)) for v in row] for row in rows]


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def logits(anchors, keys, scale):
    return [[scale * dot(a, k) for k in keys] for a in anchors]


def softmax(row):
    m = max(row)
    e = [math.exp(v - m) for v in row]
    return [v / sum(e) for v in e]


def soft_ce(student_logits, teacher_logits):
    """-1/B sum_i sum_j q_ij log p_ij."""
    total = 0.0
    for s_row, t_row in zip(student_logits, teacher_logits):
        p, q = softmax(s_row), softmax(t_row)
        total -= sum(q[j] * math.log(p[j]) for j in range(len(p)))
    return total / len(student_logits)


def kl(student_logits, teacher_logits):
    """1/B sum_i sum_j q_ij (log q_ij - log p_ij)."""
    total = 0.0
    for s_row, t_row in zip(student_logits, teacher_logits):
        p, q = softmax(s_row), softmax(t_row)
        total += sum(q[j] * (math.log(q[j]) - math.log(p[j])) for j in range(len(p)))
    return total / len(student_logits)


def entropy(teacher_logits):
    total = 0.0
    for row in teacher_logits:
        q = softmax(row)
        total -= sum(v * math.log(v) for v in q)
    return total / len(teacher_logits)


def info_nce(lg):
    """-1/B sum_k log softmax(lg[k])[k]."""
    return -sum(math.log(softmax(row)[k]) for k, row in enumerate(lg)) / len(lg)


def mse(a, b):
    a, b = (x.tolist() if torch.is_tensor(x) else x for x in (a, b))
    n = sum(len(row) for row in a)
    return sum((x - y) ** 2 for ra, rb in zip(a, b) for x, y in zip(ra, rb)) / n


def affinity_terms(si, st, ti, tt, s_scale, t_scale, div):
    """(div(I2T), div(T2I)) of the in-batch affinity distributions, each model its own scale."""
    si, st, ti, tt = map(unit_rows, (si, st, ti, tt))
    return (div(logits(si, st, s_scale), logits(ti, tt, t_scale)),
            div(logits(st, si, s_scale), logits(tt, ti, t_scale)))


def scalar(v, grad=False):
    return torch.tensor(v, dtype=torch.float64, requires_grad=grad)


# ----------------------------------------------------------------------------------------------
# Registry.
# ----------------------------------------------------------------------------------------------
ALL_CFGS = [
    dict(type='ClipAffinityLoss'), dict(type='ClipAffinityLoss', temperature=0.1),
    dict(type='AffinityMimickingLoss'), dict(type='ClipCRDLoss'), dict(type='FDLoss'),
    dict(type='MFDLoss', image_weight=2.0), dict(type='GDLoss'), dict(type='ICLLoss'),
    dict(type='AFDLoss', student_dim=D_T, teacher_dim=D_T)
]


@pytest.mark.parametrize('cfg', ALL_CFGS, ids=lambda c: c['type'])
def test_build_from_registry(cfg):
    loss = LOSSES.build(dict(cfg))
    assert type(loss).__name__ == cfg['type']
    assert LOSSES.get(cfg['type']) is type(loss)


def test_clip_crd_does_not_clash_with_classification_crd():
    from mmkd.distill.losses import CRDLoss
    assert LOSSES.get('CRDLoss') is CRDLoss and LOSSES.get('ClipCRDLoss') is ClipCRDLoss


def call(loss, si, st, ti, tt, s_scale, t_scale):
    """Call any of the losses with the arguments its forward takes."""
    if isinstance(loss, FDLoss):
        return loss(si, st, ti, tt)
    if isinstance(loss, (ICLLoss, AFDLoss)):
        return loss(si, st, ti, tt, s_scale)
    return loss(si, st, ti, tt, s_scale, t_scale)


# ----------------------------------------------------------------------------------------------
# ClipAffinityLoss (open_clip DistillClipLoss).
# ----------------------------------------------------------------------------------------------
def test_clip_affinity_golden_value():
    si, st, ti, tt = embeds()  # student dim 4, teacher dim 6: dims may differ
    loss = ClipAffinityLoss()(si, st, ti, tt, scalar(S_SCALE), scalar(T_SCALE))
    ref = sum(affinity_terms(si, st, ti, tt, S_SCALE, T_SCALE, soft_ce)) / 2
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(ref, rel=1e-10)


def test_clip_affinity_fixed_temperature_overrides_scales():
    si, st, ti, tt = embeds(seed=10)
    tau = 0.2
    loss = ClipAffinityLoss(temperature=tau)
    ref = sum(affinity_terms(si, st, ti, tt, 1 / tau, 1 / tau, soft_ce)) / 2
    assert loss(si, st, ti, tt).item() == pytest.approx(ref, rel=1e-10)
    # Given scales are ignored.
    assert loss(si, st, ti, tt, scalar(3.0), scalar(50.0)).item() == pytest.approx(ref, rel=1e-10)


def test_clip_affinity_matches_open_clip_distill_clip_loss():
    open_clip_loss = pytest.importorskip('open_clip.loss')
    si, st, ti, tt = embeds(seed=20)
    out = open_clip_loss.DistillClipLoss()(
        F.normalize(si, dim=1), F.normalize(st, dim=1), scalar(S_SCALE),
        F.normalize(ti, dim=1), F.normalize(tt, dim=1), scalar(T_SCALE), output_dict=True)
    loss = ClipAffinityLoss()(si, st, ti, tt, scalar(S_SCALE), scalar(T_SCALE))
    torch.testing.assert_close(loss, out['distill_loss'], rtol=1e-10, atol=1e-12)


def test_clip_affinity_minimum_is_teacher_entropy_when_student_equals_teacher():
    _, _, ti, tt = embeds(seed=30)
    si, st = ti.clone().requires_grad_(), tt.clone().requires_grad_()
    loss = ClipAffinityLoss()(si, st, ti, tt, scalar(T_SCALE), scalar(T_SCALE))
    ti_u, tt_u = unit_rows(ti), unit_rows(tt)
    ref = (entropy(logits(ti_u, tt_u, T_SCALE)) + entropy(logits(tt_u, ti_u, T_SCALE))) / 2
    assert loss.item() == pytest.approx(ref, rel=1e-10)
    loss.backward()  # a minimum: zero gradient
    assert si.grad.abs().max() < 1e-12 and st.grad.abs().max() < 1e-12


def test_clip_affinity_requires_scales_without_temperature():
    si, st, ti, tt = embeds()
    with pytest.raises(ValueError, match='student_logit_scale'):
        ClipAffinityLoss()(si, st, ti, tt)
    with pytest.raises(ValueError, match='teacher_logit_scale'):
        ClipAffinityLoss()(si, st, ti, tt, scalar(S_SCALE))
    with pytest.raises(ValueError, match='temperature'):
        ClipAffinityLoss(temperature=0.0)


# ----------------------------------------------------------------------------------------------
# AffinityMimickingLoss (TinyCLIP).
# ----------------------------------------------------------------------------------------------
def test_affinity_mimicking_golden_value_and_paper_sum():
    si, st, ti, tt = embeds(seed=40)
    i2t, t2i = affinity_terms(si, st, ti, tt, S_SCALE, T_SCALE, soft_ce)
    mean_loss = AffinityMimickingLoss()(si, st, ti, tt, scalar(S_SCALE), scalar(T_SCALE))
    sum_loss = AffinityMimickingLoss(average_directions=False)(si, st, ti, tt, scalar(S_SCALE),
                                                               scalar(T_SCALE))
    assert mean_loss.item() == pytest.approx((i2t + t2i) / 2, rel=1e-10)
    assert sum_loss.item() == pytest.approx(i2t + t2i, rel=1e-10)


def test_affinity_mimicking_equals_clip_affinity_with_own_scales():
    si, st, ti, tt = embeds(seed=50)
    s_scale, t_scale = scalar(S_SCALE), scalar(T_SCALE)
    am = AffinityMimickingLoss()(si, st, ti, tt, s_scale, t_scale)
    ca = ClipAffinityLoss(temperature=None)(si, st, ti, tt, s_scale, t_scale)
    torch.testing.assert_close(am, ca, rtol=0, atol=0)


# ----------------------------------------------------------------------------------------------
# ClipCRDLoss (CLIP-KD CRD).
# ----------------------------------------------------------------------------------------------
def test_clip_crd_golden_value():
    si, st, ti, tt = embeds(seed=60)
    loss = ClipCRDLoss()(si, st, ti, tt, scalar(S_SCALE), scalar(T_SCALE))
    ref = sum(affinity_terms(si, st, ti, tt, S_SCALE, T_SCALE, kl)) / 2
    assert loss.item() == pytest.approx(ref, rel=1e-9)


def test_clip_crd_is_clip_affinity_minus_teacher_entropy():
    si, st, ti, tt = embeds(seed=70)
    crd = ClipCRDLoss()(si, st, ti, tt, scalar(S_SCALE), scalar(T_SCALE))
    ca = ClipAffinityLoss()(si, st, ti, tt, scalar(S_SCALE), scalar(T_SCALE))
    ti_u, tt_u = unit_rows(ti), unit_rows(tt)
    h = (entropy(logits(ti_u, tt_u, T_SCALE)) + entropy(logits(tt_u, ti_u, T_SCALE))) / 2
    assert crd.item() == pytest.approx(ca.item() - h, rel=1e-9)


def test_clip_crd_zero_when_student_equals_teacher():
    _, _, ti, tt = embeds(seed=80)
    loss = ClipCRDLoss()(ti.clone(), tt.clone(), ti, tt, scalar(T_SCALE), scalar(T_SCALE))
    assert loss.item() == pytest.approx(0, abs=1e-12)


# ----------------------------------------------------------------------------------------------
# FDLoss / MFDLoss.
# ----------------------------------------------------------------------------------------------
def reference_fd(si, st, ti, tt, wi, wt):
    return wi * mse(unit_rows(si), unit_rows(ti)) + wt * mse(unit_rows(st), unit_rows(tt))


@pytest.mark.parametrize('cls', [FDLoss, MFDLoss])
def test_fd_golden_value(cls):
    si, st, ti, tt = embeds(dim_s=D_T, seed=90)
    loss = cls(image_weight=2.0, text_weight=0.5)(si, st, ti, tt)
    assert loss.item() == pytest.approx(reference_fd(si, st, ti, tt, 2.0, 0.5), rel=1e-10)


def test_fd_by_hand():
    # Unit vectors e1 vs e2 in D = 2: element-wise mean of (1, -1)^2 -> 1 per row.
    e1 = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    e2 = torch.tensor([[0.0, 3.0]], dtype=torch.float64)  # normalised to (0, 1)
    assert FDLoss(text_weight=0.0)(e1, e1, e2, e2).item() == pytest.approx(1.0)
    assert FDLoss()(e1, e1, e2, e1).item() == pytest.approx(1.0)


def test_mfd_is_fd_maths():
    si, st, ti, tt = embeds(dim_s=D_T, seed=100)
    assert issubclass(MFDLoss, FDLoss) and MFDLoss.forward is FDLoss.forward
    assert 'patch_dropout' in MFDLoss.__doc__
    torch.testing.assert_close(MFDLoss()(si, st, ti, tt), FDLoss()(si, st, ti, tt))


@pytest.mark.parametrize('cls', [FDLoss, MFDLoss])
def test_fd_zero_when_student_equals_teacher(cls):
    _, _, ti, tt = embeds(seed=110)
    # Scaled copies: equal after normalisation.
    assert cls()(3 * ti, 0.5 * tt, ti, tt).item() == pytest.approx(0, abs=1e-14)


# ----------------------------------------------------------------------------------------------
# GDLoss.
# ----------------------------------------------------------------------------------------------
def autograd_contrastive_grads(anchors, keys, scale):
    """torch.autograd.grad of sum_k -log softmax_b(scale <a_k, k_b>)[k] w.r.t. (anchors, keys)."""
    a = anchors.detach().clone().requires_grad_()
    k = keys.detach().clone().requires_grad_()
    loss = 0.0
    for i in range(a.shape[0]):
        row = torch.stack([scale * (a[i] * k[j]).sum() for j in range(k.shape[0])])
        loss = loss - (row[i] - torch.logsumexp(row, dim=0))
    return torch.autograd.grad(loss, (a, k))


def test_gd_closed_form_matches_autograd():
    a, k = F.normalize(randn(B, D_T, seed=120), dim=1), F.normalize(randn(B, D_T, seed=121), dim=1)
    closed = contrastive_grads(a, k, scalar(S_SCALE))
    auto = autograd_contrastive_grads(a, k, S_SCALE)
    torch.testing.assert_close(closed[0], auto[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(closed[1], auto[1], rtol=1e-10, atol=1e-12)


def reference_gd(si, st, ti, tt, s_scale, t_scale, key_grads):
    si, st, ti, tt = (F.normalize(x, dim=1) for x in (si, st, ti, tt))
    s_i2t = autograd_contrastive_grads(si, st, s_scale)  # (d/d images, d/d texts)
    s_t2i = autograd_contrastive_grads(st, si, s_scale)  # (d/d texts, d/d images)
    t_i2t = autograd_contrastive_grads(ti, tt, t_scale)
    t_t2i = autograd_contrastive_grads(tt, ti, t_scale)
    total = mse(s_i2t[0], t_i2t[0]) + mse(s_t2i[0], t_t2i[0])
    if key_grads:
        total += mse(s_i2t[1], t_i2t[1]) + mse(s_t2i[1], t_t2i[1])
    return total


@pytest.mark.parametrize('key_grads', [True, False])
def test_gd_golden_value(key_grads):
    si, st, ti, tt = embeds(dim_s=D_T, seed=130)
    loss = GDLoss(key_grads=key_grads)(si, st, ti, tt, scalar(S_SCALE), scalar(T_SCALE))
    ref = reference_gd(si, st, ti, tt, S_SCALE, T_SCALE, key_grads)
    assert loss.item() == pytest.approx(ref, rel=1e-9)


def test_gd_zero_when_student_equals_teacher():
    _, _, ti, tt = embeds(seed=140)
    loss = GDLoss()(2 * ti, tt.clone(), ti, tt, scalar(T_SCALE), scalar(T_SCALE))
    assert loss.item() == pytest.approx(0, abs=1e-20)


# ----------------------------------------------------------------------------------------------
# ICLLoss.
# ----------------------------------------------------------------------------------------------
def test_icl_golden_value():
    si, st, ti, tt = embeds(dim_s=D_T, seed=150)
    loss = ICLLoss()(si, st, ti, tt, scalar(S_SCALE))
    si_u, st_u, ti_u, tt_u = map(unit_rows, (si, st, ti, tt))
    ref = (info_nce(logits(si_u, tt_u, S_SCALE)) + info_nce(logits(st_u, ti_u, S_SCALE))) / 2
    assert loss.item() == pytest.approx(ref, rel=1e-10)


def test_icl_equals_teacher_clip_loss_when_student_equals_teacher():
    _, _, ti, tt = embeds(seed=160)
    loss = ICLLoss()(ti.clone(), tt.clone(), ti, tt, scalar(T_SCALE))
    ti_u, tt_u = unit_rows(ti), unit_rows(tt)
    clip = (info_nce(logits(ti_u, tt_u, T_SCALE)) + info_nce(logits(tt_u, ti_u, T_SCALE))) / 2
    assert loss.item() == pytest.approx(clip, rel=1e-10)


# ----------------------------------------------------------------------------------------------
# AFDLoss.
# ----------------------------------------------------------------------------------------------
def linear(rows, weight, bias):
    w, b = weight.tolist(), bias.tolist()
    return [[dot(w[o], row) + b[o] for o in range(len(w))] for row in rows]


def build_afd():
    afd = AFDLoss(student_dim=D_S, teacher_dim=D_T).double()
    with torch.no_grad():
        afd.image_fusion.weight.copy_(randn(D_S, D_S + D_T, seed=171))
        afd.image_fusion.bias.copy_(randn(D_S, seed=172))
        afd.text_fusion.weight.copy_(randn(D_S, D_S + D_T, seed=173))
        afd.text_fusion.bias.copy_(randn(D_S, seed=174))
    return afd


def test_afd_golden_value():
    afd = build_afd()
    si, st, ti, tt = embeds(seed=180)
    loss = afd(si, st, ti, tt, scalar(S_SCALE))
    si_u, st_u, ti_u, tt_u = map(unit_rows, (si, st, ti, tt))
    fused_i = unit_rows(linear([a + b for a, b in zip(si_u, ti_u)], afd.image_fusion.weight,
                               afd.image_fusion.bias))
    fused_t = unit_rows(linear([a + b for a, b in zip(st_u, tt_u)], afd.text_fusion.weight,
                               afd.text_fusion.bias))
    ref = (info_nce(logits(fused_i, fused_t, S_SCALE)) +
           info_nce(logits(fused_t, fused_i, S_SCALE))) / 2
    assert loss.item() == pytest.approx(ref, rel=1e-10)


def test_afd_fusion_layers_and_dims():
    afd = AFDLoss(student_dim=3, teacher_dim=8)
    assert afd.image_fusion.in_features == 11 and afd.image_fusion.out_features == 3
    assert afd.text_fusion.in_features == 11 and afd.text_fusion.out_features == 3
    si, st, ti, tt = embeds(dim_s=4, dim_t=8)
    with pytest.raises(ValueError, match='student_image_embeds.*student_dim=3'):
        afd(si.float(), st.float(), ti.float(), tt.float(), 10.0)


def test_afd_trains_fusion_layers():
    afd = build_afd()
    si, st, ti, tt = embeds(seed=190)
    afd(si, st, ti, tt, scalar(S_SCALE)).backward()
    for p in afd.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0


# ----------------------------------------------------------------------------------------------
# Shared behaviour: gradients reach the student side only; shape errors name the tensors.
# ----------------------------------------------------------------------------------------------
def all_losses():
    return [ClipAffinityLoss(), ClipAffinityLoss(temperature=0.1), AffinityMimickingLoss(),
            ClipCRDLoss(), FDLoss(), MFDLoss(), GDLoss(), ICLLoss(),
            AFDLoss(student_dim=D_T, teacher_dim=D_T).double()]


@pytest.mark.parametrize('loss', all_losses(), ids=lambda x: type(x).__name__)
def test_gradient_reaches_student_only(loss):
    tensors = [x.requires_grad_() for x in embeds(dim_s=D_T, seed=200)]
    s_scale, t_scale = scalar(S_SCALE, grad=True), scalar(T_SCALE, grad=True)
    value = call(loss, *tensors, s_scale, t_scale)
    assert value.dim() == 0 and torch.isfinite(value)
    value.backward()
    for x in tensors[:2]:
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for x in tensors[2:] + [t_scale]:
        assert x.grad is None
    uses_student_scale = not isinstance(loss, FDLoss) and getattr(loss, 'temperature', None) is None
    if uses_student_scale:
        assert s_scale.grad is not None and s_scale.grad.abs() > 0
    else:
        assert s_scale.grad is None


@pytest.mark.parametrize('loss', all_losses(), ids=lambda x: type(x).__name__)
def test_shape_errors_name_tensors(loss):
    si, st, ti, tt = embeds(dim_s=D_T, seed=210)
    s_scale, t_scale = scalar(S_SCALE), scalar(T_SCALE)
    with pytest.raises(ValueError, match='student_image_embeds.*student_text_embeds'):
        call(loss, si, st[:, :3], ti, tt, s_scale, t_scale)
    with pytest.raises(ValueError, match='teacher_image_embeds.*teacher_text_embeds'):
        call(loss, si, st, ti[:3], tt, s_scale, t_scale)
    with pytest.raises(ValueError, match='student_image_embeds.*teacher_image_embeds'):
        call(loss, si[:4], st[:4], ti, tt, s_scale, t_scale)  # batch sizes differ
    with pytest.raises(ValueError, match='student_text_embeds must be a \\[B, D\\]'):
        call(loss, si, st[0], ti, tt, s_scale, t_scale)
    if not isinstance(loss, FDLoss) and getattr(loss, 'temperature', None) is None:
        with pytest.raises(ValueError, match='student_logit_scale must be a scalar'):
            call(loss, si, st, ti, tt, torch.ones(2, dtype=torch.float64), t_scale)


@pytest.mark.parametrize('cls', [FDLoss, MFDLoss, GDLoss, ICLLoss])
def test_elementwise_losses_need_teacher_dim(cls):
    si, st, ti, tt = embeds()  # student dim 4, teacher dim 6
    with pytest.raises(ValueError, match='student_image_embeds.*teacher_image_embeds.*connector'):
        call(cls(), si, st, ti, tt, scalar(S_SCALE), scalar(T_SCALE))
    assert ('student_image_embeds', 'teacher_image_embeds') in cls.shape_pairs


def test_logit_scales_accept_numbers_and_one_element_tensors():
    si, st, ti, tt = embeds(seed=220)
    ref = ClipAffinityLoss()(si, st, ti, tt, scalar(S_SCALE), scalar(T_SCALE))
    alt = ClipAffinityLoss()(si, st, ti, tt, S_SCALE, torch.tensor([T_SCALE]))
    torch.testing.assert_close(alt, ref)


@pytest.mark.parametrize('loss', all_losses(), ids=lambda x: type(x).__name__)
def test_lower_precision_teacher_is_cast_to_student_dtype(loss):
    si, st, ti, tt = embeds(dim_s=D_T, seed=230)
    ref = call(loss, si, st, ti, tt, scalar(S_SCALE), scalar(T_SCALE))
    low = call(loss, si, st, ti.float(), tt.float(), scalar(S_SCALE),
               scalar(T_SCALE).float())
    assert low.dtype == torch.float64
    assert low.item() == pytest.approx(ref.item(), rel=1e-5, abs=1e-9)
