"""Malformed checkpoints given as a teacher: each is refused with an mmkd error that names the
config key and the file; none runs code or loads silently."""
import os

import pytest
import torch
from safetensors.torch import save_file

from mmkd.errors import MMKDError
from mmkd.registry import MODELS

TEACHER = dict(type='ConvClassifier', channels=(8, 16))
STUDENT = dict(type='ConvClassifier', channels=(4, 8))
RAN = []


def ran_code():
    RAN.append(True)
    return {}


class RunsCode:
    def __reduce__(self):
        return ran_code, ()


def teacher_state():
    torch.manual_seed(0)
    return MODELS.build(TEACHER).state_dict()


def write(path, case):
    state = teacher_state()
    if case == 'truncated-pth':
        torch.save(dict(state_dict=state), path)
        data = open(path, 'rb').read()
        open(path, 'wb').write(data[:len(data) // 2])
    elif case == 'random-bytes-pth':
        open(path, 'wb').write(os.urandom(2048))
    elif case == 'empty-pth':
        open(path, 'wb').close()
    elif case == 'pickle-that-runs-code':
        torch.save(dict(state_dict=state, extra=RunsCode()), path)
    elif case == 'not-a-state-dict':
        torch.save([1, 2, 3], path)
    elif case == 'integer-tensors-safetensors':
        save_file({k: v.to(torch.int64) for k, v in state.items()}, path)
    elif case == 'truncated-safetensors':
        save_file(state, path)
        data = open(path, 'rb').read()
        open(path, 'wb').write(data[:len(data) // 2])
    elif case == 'another-models-weights':
        torch.manual_seed(0)
        torch.save(dict(state_dict=MODELS.build(STUDENT).state_dict()), path)
    elif case == 'nan-weights':
        torch.save(dict(state_dict={k: v.float().fill_(float('nan')) if v.is_floating_point()
                                    else v for k, v in state.items()}), path)


CASES = [('truncated-pth', '.pth', 'cannot load checkpoint'),
         ('random-bytes-pth', '.pth', 'cannot load checkpoint'),
         ('empty-pth', '.pth', 'cannot load checkpoint'),
         ('pickle-that-runs-code', '.pth', 'weights_only=True'),
         ('not-a-state-dict', '.pth', 'expected a state dict'),
         ('integer-tensors-safetensors', '.safetensors', 'dtype mismatches'),
         ('truncated-safetensors', '.safetensors', 'cannot read safetensors file'),
         ('another-models-weights', '.pth', 'does not fit ConvClassifier'),
         ('nan-weights', '.pth', 'non-finite')]


def build_with_teacher(path):
    return MODELS.build(dict(
        type='Distill', student=STUDENT,
        teachers=dict(teacher=dict(model=TEACHER, checkpoint=path)),
        distiller=dict(recorders=dict(student=dict(logits='head'), teacher=dict(logits='head')),
                       losses=dict(loss_kd=dict(type='KDLoss', inputs=dict(
                           student_logits='student.logits', teacher_logits='teacher.logits'))))))


@pytest.mark.parametrize('case,suffix,words', CASES, ids=[c[0] for c in CASES])
def test_malformed_teacher_checkpoint_is_named(tmp_path, case, suffix, words):
    path = str(tmp_path / f'teacher{suffix}')
    write(path, case)
    RAN.clear()
    with pytest.raises(MMKDError, match=words) as info:
        build_with_teacher(path)
    assert path in str(info.value) and 'model.teachers.teacher.checkpoint' in str(info.value)
    assert RAN == [], 'loading the checkpoint ran code'


def test_distillation_checkpoint_as_teacher_hints_the_teachers_prefix(tmp_path):
    """A KD run's checkpoint holds student.* and teachers.teacher.*; given as the teacher's
    checkpoint, the hint is the prefix under which every teacher key fits."""
    path = str(tmp_path / 'kd.pth')
    good = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=teacher_state()), good)
    torch.save(dict(state_dict=build_with_teacher(good).state_dict()), path)
    with pytest.raises(MMKDError, match="hint: set prefix='teachers.teacher.'"):
        build_with_teacher(path)
