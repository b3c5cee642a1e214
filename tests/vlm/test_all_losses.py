"""What every CLIP distillation loss does: it builds from the registry, gradients reach the
student side only, shape errors name the tensors, scales may be numbers, a lower-precision
teacher is cast."""
import pytest
import torch

from clip_loss_reference import D_T, embeds, S_SCALE, T_SCALE, scalar, call
from mmkd.registry import LOSSES
from mmkd.vlm.losses import AFDLoss, AffinityMimickingLoss, ClipAffinityLoss, ClipCRDLoss, FDLoss, GDLoss, ICLLoss, MFDLoss


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
