"""Teachers inside ``Distill``: modes, freezing, dtypes, checkpoints and init_weights."""
import pytest
import torch
from torch import nn

from mmkd.distill import Distill, TeacherSpec
from mmkd.fileio import atomic_torch_save

STUDENT = dict(type='ConvClassifier', channels=(4, 8))
TEACHER = dict(type='ConvClassifier', channels=(8, 16), dropout=0.5)
DISTILLER = dict(
    recorders=dict(student=dict(logits='head'), teacher=dict(logits='head')),
    losses=dict(loss_kd=dict(type='KDLoss', temperature=4.0,
                             inputs=dict(student_logits='student.logits',
                                         teacher_logits='teacher.logits'))))


def batch(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), dict(labels=torch.arange(n) % 10)


def build(seed=0, student=STUDENT, distiller=DISTILLER, **teacher):
    torch.manual_seed(seed)
    spec = dict(dict(model=TEACHER), **teacher)
    if spec.get('ema_of_student'):
        spec.pop('model')
    return Distill(student=student, teachers=dict(teacher=spec), distiller=distiller)


def teacher_logits(algo):
    return algo.distiller.recorder_groups['teacher'].get('logits', 'test').clone()


def bn_means(model):
    return [m.running_mean.clone() for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


def bn_unchanged(before, model):
    return all(torch.equal(a, b) for a, b in zip(before, bn_means(model)))


def test_eval_mode_no_dropout_frozen_bn_while_algorithm_trains():
    algo = build(mode='eval')
    algo.train()
    teacher = algo.teachers['teacher']
    assert algo.training and algo.student.training
    assert not any(m.training for m in teacher.modules())
    before = bn_means(teacher)
    x, ds = batch()
    algo.loss(x, ds)
    first = teacher_logits(algo)
    algo.loss(x, ds)
    torch.testing.assert_close(teacher_logits(algo), first, rtol=0, atol=0)
    assert bn_unchanged(before, teacher)
    # It is the eval-mode teacher's output.
    torch.testing.assert_close(first, teacher(x))


def test_norm_eval_keeps_bn_in_eval_but_dropout_active():
    algo = build(mode='norm_eval')
    algo.train()
    teacher = algo.teachers['teacher']
    norms = [m for m in teacher.modules() if isinstance(m, nn.BatchNorm2d)]
    dropouts = [m for m in teacher.modules() if isinstance(m, nn.Dropout)]
    assert norms and dropouts
    assert not any(m.training for m in norms)
    assert all(m.training for m in dropouts)
    before = bn_means(teacher)
    x, ds = batch()
    algo.loss(x, ds)
    first = teacher_logits(algo)
    algo.loss(x, ds)
    assert not torch.allclose(teacher_logits(algo), first)   # dropout draws differ
    assert bn_unchanged(before, teacher)
    # In the algorithm's eval mode the whole teacher is in eval.
    algo.eval()
    assert not any(m.training for m in teacher.modules())


def test_train_mode_updates_bn_statistics():
    algo = build(mode='train')
    algo.train()
    teacher = algo.teachers['teacher']
    assert all(m.training for m in teacher.modules())
    before = bn_means(teacher)
    algo.loss(*batch())
    assert not bn_unchanged(before, teacher)
    algo.eval()
    assert not any(m.training for m in teacher.modules())
    after = bn_means(teacher)
    algo.loss(*batch(seed=1))
    assert bn_unchanged(after, teacher)


def test_teacher_is_frozen_and_gets_no_gradient():
    algo = build(mode='train')
    teacher = algo.teachers['teacher']
    assert all(not p.requires_grad for p in teacher.parameters())
    assert all(p.requires_grad for p in algo.student.parameters())
    losses = algo.loss(*batch())
    sum(losses.values()).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None for p in algo.student.parameters())


@pytest.mark.parametrize('dtype,torch_dtype', [('float16', torch.float16),
                                               ('bfloat16', torch.bfloat16)])
def test_half_precision_teacher_gives_float32_tensors(dtype, torch_dtype):
    algo = build(dtype=dtype)
    teacher = algo.teachers['teacher']
    assert all(p.dtype == torch_dtype for p in teacher.parameters())
    x, ds = batch()
    losses = algo.loss(x, ds)
    raw = algo.distiller.recorder_groups['teacher'].recorders['logits'].data
    assert raw.dtype == torch_dtype
    resolved = algo.distiller.resolve('teacher.logits', ds)
    assert resolved.dtype == torch.float32
    torch.testing.assert_close(resolved, raw.float(), rtol=0, atol=0)
    assert losses['distill.loss_kd'].dtype == torch.float32
    assert torch.isfinite(losses['distill.loss_kd'])
    # The student (float32) is not cast.
    assert algo.distiller.resolve('student.logits', ds).dtype == torch.float32


def test_missing_checkpoint_names_key_and_path(tmp_path):
    path = str(tmp_path / 'nope.pth')
    with pytest.raises(FileNotFoundError,
                       match=r"model\.teachers\.teacher\.checkpoint: checkpoint file '.*nope\.pth'"
                             r' does not exist'):
        build(checkpoint=path)


def test_checkpoint_that_does_not_fit_lists_keys_and_prefix_hint(tmp_path):
    # A distillation checkpoint: keys start with 'student.', 'teachers.teacher.', ...
    algo = build(seed=3)
    path = str(tmp_path / 'distill.pth')
    atomic_torch_save(dict(state_dict=algo.state_dict()), path)
    with pytest.raises(KeyError) as info:
        build(model=STUDENT, checkpoint=path)
    message = info.value.args[0]
    assert message.startswith("model.teachers.teacher.checkpoint: checkpoint '")
    assert 'does not fit ConvClassifier' in message
    assert 'missing keys' in message and "'backbone.stage1.0.0.weight'" in message
    assert 'unexpected keys' in message and "'student.backbone.stage1.0.0.weight'" in message
    assert "hint: set prefix='student.'" in message
    # With the prefix the student of the distillation checkpoint becomes the teacher.
    loaded = build(seed=4, model=STUDENT, checkpoint=path, prefix='student.')
    for key, value in algo.student.state_dict().items():
        torch.testing.assert_close(loaded.teachers['teacher'].state_dict()[key], value,
                                   rtol=0, atol=0)


def test_checkpoint_with_wrong_shapes(tmp_path):
    path = str(tmp_path / 'student.pth')
    torch.manual_seed(0)
    from mmkd.registry import MODELS
    atomic_torch_save(MODELS.build(STUDENT).state_dict(), path)    # a raw state dict
    with pytest.raises(KeyError, match=r"11 shape mismatches, e\.g\. \[.backbone\.stage1\.0\.0\."
                                       r'weight: checkpoint \(4, 1, 3, 3\) vs model '
                                       r'\(8, 1, 3, 3\).,'):
        build(checkpoint=path)
    with pytest.raises(KeyError, match=r"no keys starting with 'student\.'"):
        build(checkpoint=path, prefix='student.')


def test_init_weights_keeps_loaded_teacher(tmp_path):
    from mmkd.registry import MODELS
    torch.manual_seed(7)
    source = MODELS.build(TEACHER)
    path = str(tmp_path / 'teacher.pth')
    atomic_torch_save(dict(state_dict=source.state_dict()), path)
    student = dict(STUDENT, init_cfg=dict(type='Normal', layer=['Conv2d', 'Linear'], std=3.0))
    algo = build(student=student, checkpoint=path)
    student_before = {k: v.clone() for k, v in algo.student.state_dict().items()}
    algo.init_weights()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(algo.teachers['teacher'].state_dict()[key], value,
                                   rtol=0, atol=0)
    # The student's own init_cfg did run.
    weight = algo.student.state_dict()['backbone.stage1.0.0.weight']
    assert not torch.equal(weight, student_before['backbone.stage1.0.0.weight'])
    assert weight.std() > 1.0


def test_init_weights_restarts_ema_teacher_from_student():
    student = dict(STUDENT, init_cfg=dict(type='Normal', layer=['Conv2d', 'Linear'], std=3.0))
    algo = build(student=student, ema_of_student=True, momentum=0.5)
    algo.init_weights()
    for key, value in algo.student.state_dict().items():
        torch.testing.assert_close(algo.teachers['teacher'].state_dict()[key], value,
                                   rtol=0, atol=0)


@pytest.mark.parametrize('spec,match', [
    (dict(mode='frozen'), r"model\.teachers\.teacher\.mode: expected one of \('eval', "
                          r"'norm_eval', 'train'\), got 'frozen'"),
    (dict(dtype='fp16'), r"model\.teachers\.teacher\.dtype: expected one of \['bfloat16', "
                         r"'float16', 'float32'\], got 'fp16'"),
    (dict(ema_of_student=True, model=TEACHER), r'model\.teachers\.teacher: give either model'),
    (dict(model=None), r'model\.teachers\.teacher: give either model'),
    (dict(ema_of_student=True, momentum=1.0), r'model\.teachers\.teacher\.momentum: expected '
                                              r'0 <= momentum < 1, got 1\.0'),
    (dict(inputs='views'), r"model\.teachers\.teacher\.inputs: expected None .*, "
                           r"'batch\.<field>' .* or 'inputs\.<key>' .*, got 'views'"),
    (dict(inputs='inputs.'), r"model\.teachers\.teacher\.inputs: expected None .*, got "
                             r"'inputs\.'"),
])
def test_bad_teacher_spec(spec, match):
    with pytest.raises(ValueError, match=match):
        torch.manual_seed(0)
        teacher = dict(dict(model=TEACHER), **spec)
        if spec.get('ema_of_student') and 'model' not in spec:
            teacher.pop('model')
        Distill(student=STUDENT, teachers=dict(teacher=teacher), distiller=DISTILLER)


def test_reserved_teacher_names():
    for name in ('student', 'batch'):
        with pytest.raises(KeyError, match=rf"model\.teachers\.{name}: '{name}' is reserved"):
            Distill(student=STUDENT, teachers={name: dict(model=TEACHER)}, distiller=DISTILLER)


def test_teacher_reads_its_own_inputs_from_the_batch():
    """``inputs='batch.<field>'``: the teacher sees that field (here a brighter image), the student
    its usual inputs; a batch without the field is an error naming the key."""
    from mmkd.distill.losses import KDLoss
    algo = build(inputs='batch.teacher_images')
    images, samples = batch()
    samples['teacher_images'] = images * 2
    algo.train()
    got = algo.loss(images, samples)['distill.loss_kd']
    with torch.no_grad():
        student_logits = algo.student(images)
        on_field = KDLoss(temperature=4.0)(student_logits, algo.teachers['teacher'](images * 2))
        on_student_inputs = KDLoss(temperature=4.0)(student_logits,
                                                    algo.teachers['teacher'](images))
    assert got.item() == pytest.approx(on_field.item(), rel=1e-5)
    assert abs(on_field.item() - on_student_inputs.item()) > 1e-3
    with pytest.raises(KeyError, match=r"model\.teachers\.teacher\.inputs: the batch has no "
                                       r"data_samples field 'teacher_images' "
                                       r"\(fields: \['labels'\]\)"):
        algo.loss(images, batch()[1])


def test_teacher_reads_one_entry_of_dict_inputs_through_its_own_pipeline():
    """``inputs='inputs.<key>'`` and ``preprocess``: the teacher sees ``inputs[key]`` after its own
    pipeline (here ImageInputs doubling the image: mean 0, std 0.5)."""
    spec = TeacherSpec('teacher', model=TEACHER, inputs='inputs.image',
                       preprocess=dict(type='ImageInputs', size=None, channels=1, std=0.5))
    images = torch.rand(2, 1, 8, 8)
    seen = spec.select_inputs(dict(image=images, text=['a', 'b']), None)
    assert torch.allclose(seen, images * 2)
    with pytest.raises(KeyError, match=r"model\.teachers\.teacher\.inputs: the inputs have no key "
                                       r"'image' \(they are \['text'\]\)"):
        spec.select_inputs(dict(text=['a', 'b']), None)
