"""Golden-value tests for ICLLoss (CLIP-KD interactive contrastive learning)."""
import pytest

from clip_loss_reference import D_T, embeds, S_SCALE, T_SCALE, unit_rows, logits, info_nce, scalar
from mmkd.vlm.losses import ICLLoss


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
