"""Golden-value tests for AFDLoss (CLIP-KD augmented feature distillation)."""
import pytest
import torch

from clip_loss_reference import D_S, D_T, embeds, S_SCALE, unit_rows, dot, logits, info_nce, scalar
from conftest import randn
from mmkd.vlm.losses import AFDLoss


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
