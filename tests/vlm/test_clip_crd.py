"""Golden-value tests for ClipCRDLoss (CLIP-KD CRD)."""
import pytest

from clip_loss_reference import (embeds, S_SCALE, T_SCALE, unit_rows, logits, kl, entropy,
                                 affinity_terms, scalar)
from mmkd.vlm.losses import ClipAffinityLoss, ClipCRDLoss


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
