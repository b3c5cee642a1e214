"""Golden-value tests for AffinityMimickingLoss (TinyCLIP)."""
import pytest
import torch

from clip_loss_reference import embeds, S_SCALE, T_SCALE, soft_ce, affinity_terms, scalar
from mmkd.vlm.losses import AffinityMimickingLoss, ClipAffinityLoss


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
