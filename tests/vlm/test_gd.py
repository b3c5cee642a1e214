"""Golden-value tests for GDLoss (CLIP-KD gradient distillation); its closed-form gradients
are checked against torch.autograd.grad of the contrastive loss."""
import pytest
import torch
import torch.nn.functional as F

from clip_loss_reference import B, D_T, embeds, S_SCALE, T_SCALE, mse, scalar
from conftest import randn
from mmkd.vlm.losses import GDLoss
from mmkd.vlm.losses.gd import contrastive_grads


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
