"""The Distiller: build-time validation of the loss mapping, and the losses it computes."""
import pytest
import torch
from torch import nn

from mmkd.distill.distiller import Distiller
from mmkd.registry import LOSSES


class Net(nn.Module):
    """``feat`` ([N, C, 4, 4]) -> ``pool`` ([N, C]) -> ``head`` (logits [N, 5])."""

    def __init__(self, channels: int, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.feat = nn.Conv2d(1, channels, 3, padding=1)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels, 5)

    def forward(self, x):
        return self.head(self.pool(self.feat(x)))


def models():
    return dict(student=Net(2, seed=0), teacher=Net(6, seed=1), teacher2=Net(6, seed=2))


RECORDERS = dict(student=dict(logits='head', feat='feat'),
                 teacher=dict(logits='head', feat='feat'),
                 teacher2=dict(logits='head'))
KD = dict(type='KDLoss', temperature=2.0,
          inputs=dict(student_logits='student.logits', teacher_logits='teacher.logits'))


def build(losses, recorders=RECORDERS, connectors=None, nets=None):
    return Distiller(nets or models(), losses=losses, recorders=recorders, connectors=connectors)


def run(distiller, nets, x, batch=None):
    """Forward every net with its recorders live, then compute the distill losses."""
    for name, net in nets.items():
        with distiller.recording(name):
            net(x)
    return distiller.compute_losses(batch)


# ---------------------------------------------------------------- build-time validation

def test_unknown_loss_type_names_key_and_bad_name():
    with pytest.raises(KeyError, match=r"model\.distiller\.losses\.loss_kd\.type: unknown loss "
                                       r"'KDLos'; registered losses: \[.*'KDLoss'"):
        build(dict(loss_kd=dict(KD, type='KDLos')))


def test_missing_type_and_missing_inputs():
    with pytest.raises(KeyError, match=r'model\.distiller\.losses\.loss_kd: missing "type"'):
        build(dict(loss_kd=dict(inputs=KD['inputs'])))
    with pytest.raises(KeyError, match=r'model\.distiller\.losses\.loss_kd\.inputs: expected a '
                                       r'dict mapping the arguments of KDLoss\.forward'):
        build(dict(loss_kd=dict(type='KDLoss')))


def test_bad_constructor_argument():
    with pytest.raises(TypeError, match=r'model\.distiller\.losses\.loss_kd: cannot build '
                                        r'KDLoss: .*tau'):
        build(dict(loss_kd=dict(KD, tau=3.0)))


def test_inputs_key_not_an_argument_of_forward():
    inputs = dict(student_logits='student.logits', teacher_logits='teacher.logits',
                  logits_t='teacher.logits')
    with pytest.raises(KeyError, match=r"model\.distiller\.losses\.loss_kd\.inputs\.logits_t: "
                                       r"KDLoss\.forward has no argument 'logits_t'; its "
                                       r"arguments are \['student_logits', 'teacher_logits'\]"):
        build(dict(loss_kd=dict(KD, inputs=inputs)))


def test_required_forward_argument_unmapped():
    with pytest.raises(KeyError, match=r"model\.distiller\.losses\.loss_kd\.inputs: required "
                                       r"argument 'teacher_logits' of KDLoss\.forward is not "
                                       r"mapped"):
        build(dict(loss_kd=dict(KD, inputs=dict(student_logits='student.logits'))))


def test_reference_to_model_without_recorders():
    recorders = dict(student=RECORDERS['student'])     # the teacher records nothing
    with pytest.raises(KeyError, match=r"model\.distiller\.losses\.loss_kd\.inputs\."
                                       r"teacher_logits: 'teacher\.logits' names no recorded "
                                       r"model; models with recorders are \['student'\]"):
        build(dict(loss_kd=KD), recorders=recorders)


def test_reference_to_missing_recorder():
    inputs = dict(student_logits='student.logits', teacher_logits='teacher.logit')
    with pytest.raises(KeyError, match=r"model\.distiller\.losses\.loss_kd\.inputs\."
                                       r"teacher_logits: 'teacher\.logit' names no recorder; "
                                       r"'teacher' records \['feat', 'logits'\]"):
        build(dict(loss_kd=dict(KD, inputs=inputs)))


def test_malformed_references():
    with pytest.raises(KeyError, match=r"teacher_logits: expected '<model>\.<recorder>' or "
                                       r"'batch\.<field>', got 'logits'"):
        build(dict(loss_kd=dict(KD, inputs=dict(student_logits='student.logits',
                                                teacher_logits='logits'))))
    with pytest.raises(KeyError, match=r"student_logits: expected dict\(source=\.\.\., "
                                       r"connector=\.\.\.\), got keys \['connector', 'src'\]"):
        build(dict(loss_kd=dict(KD, inputs=dict(
            student_logits=dict(src='student.logits', connector='c'),
            teacher_logits='teacher.logits'))))


def test_unknown_connector():
    inputs = dict(student_feats=dict(source='student.feat', connector='feat_x'),
                  teacher_feats='teacher.feat')
    with pytest.raises(KeyError, match=r"model\.distiller\.losses\.loss_fitnet\.inputs\."
                                       r"student_feats\.connector: no connector named 'feat_x'; "
                                       r"connectors are \['feat_s'\]"):
        build(dict(loss_fitnet=dict(type='FeatureMSELoss', inputs=inputs)),
              connectors=dict(feat_s=dict(type='ConvConnector', in_channels=2,
                                          out_channels=6)))


def test_recorders_keyed_by_unknown_model():
    recorders = dict(RECORDERS, teacher3=dict(logits='head'))
    with pytest.raises(KeyError, match=r"model\.distiller\.recorders\.teacher3: no model named "
                                       r"'teacher3'; models are \['student', 'teacher', "
                                       r"'teacher2'\]"):
        build(dict(loss_kd=KD), recorders=recorders)


def test_where_prefix_is_configurable():
    with pytest.raises(KeyError, match=r'^"?model\.peer_distiller\.losses\.kd\.type'):
        Distiller(models(), losses=dict(kd=dict(KD, type='Nope')), recorders=RECORDERS,
                  where='model.peer_distiller')


# ------------------------------------------------------------------------------ runtime

def test_shape_mismatch_without_connector_names_loss_refs_and_shapes():
    nets = models()
    distiller = build(dict(loss_fitnet=dict(type='FeatureMSELoss', inputs=dict(
        student_feats='student.feat', teacher_feats='teacher.feat'))), nets=nets)
    with pytest.raises(ValueError, match=r"model\.distiller\.losses\.loss_fitnet: student_feats "
                                         r"\('student\.feat', shape \(3, 2, 4, 4\)\) and "
                                         r"teacher_feats \('teacher\.feat', shape "
                                         r"\(3, 6, 4, 4\)\) must have the same shape; add a "
                                         r"connector"):
        run(distiller, nets, torch.randn(3, 1, 4, 4))


def test_connector_fixes_the_shape():
    nets = models()
    distiller = build(dict(loss_fitnet=dict(type='FeatureMSELoss', inputs=dict(
        student_feats=dict(source='student.feat', connector='feat_s'),
        teacher_feats='teacher.feat'))), nets=nets,
        connectors=dict(feat_s=dict(type='ConvConnector', in_channels=2, out_channels=6)))
    x = torch.randn(3, 1, 4, 4)
    losses = run(distiller, nets, x)
    expected = nn.functional.mse_loss(distiller.connectors['feat_s'](nets['student'].feat(x)),
                                      nets['teacher'].feat(x))
    torch.testing.assert_close(losses['distill.loss_fitnet'], expected)
    # The connector is a trainable submodule of the distiller.
    assert any(n.startswith('connectors.feat_s.') for n, _ in distiller.named_parameters())


def test_missing_batch_field_names_the_field():
    nets = models()
    distiller = build(dict(loss_dkd=dict(type='DKDLoss', inputs=dict(
        student_logits='student.logits', teacher_logits='teacher.logits',
        labels='batch.labels'))), nets=nets)
    x = torch.randn(3, 1, 4, 4)
    with pytest.raises(KeyError, match=r"model\.distiller\.losses\.loss_dkd\.inputs\.labels: the "
                                       r"batch has no field 'labels'; its fields are "
                                       r"\['sample_idx', 'targets'\]"):
        run(distiller, nets, x, batch=dict(targets=torch.zeros(3), sample_idx=[0, 1, 2]))
    losses = run(distiller, nets, x, batch=dict(labels=torch.tensor([0, 1, 4])))
    expected = LOSSES.build(dict(type='DKDLoss'))(nets['student'](x), nets['teacher'](x),
                                                  torch.tensor([0, 1, 4]))
    torch.testing.assert_close(losses['distill.loss_dkd'], expected)


def test_loss_weight_scales_exactly():
    nets = models()
    x = torch.randn(4, 1, 4, 4)
    plain = run(build(dict(loss_kd=KD), nets=nets), nets, x)['distill.loss_kd']
    weighted = run(build(dict(loss_kd=dict(KD, loss_weight=2.5)), nets=nets), nets,
                   x)['distill.loss_kd']
    expected = LOSSES.build(dict(type='KDLoss', temperature=2.0))(nets['student'](x),
                                                                  nets['teacher'](x))
    torch.testing.assert_close(plain, expected)
    assert weighted.item() == 2.5 * plain.item()
    zero = run(build(dict(loss_kd=dict(KD, loss_weight=0)), nets=nets), nets, x)['distill.loss_kd']
    assert zero.item() == 0.0


def test_list_references_resolve_to_lists():
    nets = models()
    distiller = build(dict(loss_mt=dict(
        type='MultiTeacherKDLoss', temperature=3.0, teacher_weights=(1.0, 3.0),
        inputs=dict(student_logits='student.logits',
                    teacher_logits=['teacher.logits', 'teacher2.logits']))), nets=nets)
    x = torch.randn(4, 1, 4, 4)
    losses = run(distiller, nets, x)
    resolved = distiller.resolve(['teacher.logits', 'teacher2.logits'])
    assert isinstance(resolved, list) and len(resolved) == 2
    torch.testing.assert_close(resolved[0], nets['teacher'](x))
    torch.testing.assert_close(resolved[1], nets['teacher2'](x))
    # By hand: the target is (1/4) p_t1 + (3/4) p_t2 at T = 3.
    T = 3.0
    target = 0.25 * (nets['teacher'](x) / T).softmax(1) + 0.75 * (nets['teacher2'](x) / T).softmax(1)
    log_p_s = (nets['student'](x) / T).log_softmax(1)
    expected = (target * (target.log() - log_p_s)).sum(1).mean() * T ** 2
    torch.testing.assert_close(losses['distill.loss_mt'], expected)


def test_list_reference_is_validated_per_item():
    with pytest.raises(KeyError, match=r"teacher_logits\[1\]: 'teacher3\.logits' names no "
                                       r'recorded model'):
        build(dict(loss_mt=dict(type='MultiTeacherKDLoss', inputs=dict(
            student_logits='student.logits',
            teacher_logits=['teacher.logits', 'teacher3.logits']))))


def test_key_naming():
    nets = models()
    distiller = build(dict(loss_kd=KD, my_loss_fit=KD), nets=nets)
    losses = run(distiller, nets, torch.randn(2, 1, 4, 4))
    assert list(losses) == ['distill.loss_kd', 'distill.my_loss_fit']
    # A name without 'loss' gets the prefix, so MMEngine's parse_losses sums it.
    distiller = build(dict(kd=KD), nets=nets)
    assert list(run(distiller, nets, torch.randn(2, 1, 4, 4))) == ['distill.loss_kd']


def test_two_losses_with_the_same_key_are_rejected():
    """'kd' and 'loss_kd' both become distill.loss_kd: one of them would silently vanish from
    the total loss, so the distiller must refuse the config."""
    with pytest.raises(KeyError, match=r"model\.distiller\.losses\.kd\b.*distill\.loss_kd"):
        build(dict(loss_kd=KD, kd=dict(KD, loss_weight=3.0)))


def test_recording_an_unrecorded_model_is_a_no_op():
    """A model without recorders (or a name that is no model) records nothing: no hooks while
    it runs, and the recordings of the others, and so the losses, stay as they were."""
    nets = models()
    recorders = {k: v for k, v in RECORDERS.items() if k != 'teacher2'}
    distiller = build(dict(loss_kd=KD), recorders=recorders, nets=nets)
    x = torch.randn(2, 1, 4, 4)
    expected = run(distiller, {k: nets[k] for k in ('student', 'teacher')}, x)
    for owner, net in (('teacher2', nets['teacher2']), ('not_a_model', nets['student'])):
        with distiller.recording(owner):
            assert not any(m._forward_hooks for m in net.modules())
            net(torch.randn(2, 1, 4, 4))
    torch.testing.assert_close(distiller.compute_losses(None), expected)
