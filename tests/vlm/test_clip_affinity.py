"""Golden-value tests for ClipAffinityLoss (open_clip DistillClipLoss), against the
reference in tests/clip_loss_reference.py."""
import pytest
import torch
import torch.nn.functional as F

from clip_loss_reference import (embeds, S_SCALE, T_SCALE, unit_rows, logits, soft_ce, entropy,
                                 affinity_terms, scalar)
from mmkd.vlm.losses import ClipAffinityLoss


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
