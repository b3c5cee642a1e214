"""Exporting the student of a distillation checkpoint (``tools/export_student.py``)."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from conftest import REPO
from mmkd.engine.student import export_student, student_config, student_prefix
from mmkd.fileio import atomic_torch_save, load_state_dict_file
from mmkd.registry import MODELS

KD_CONFIG = osp.join(REPO, 'configs', 'digits', 'kd_cnn_digits.py')
STUDENT_CONFIG = osp.join(REPO, 'configs', 'digits', 'cnn_student_digits.py')


def randomise_bn_statistics(model, seed):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def test_export_kd_student(tmp_path):
    cfg = Config.fromfile(KD_CONFIG)
    torch.manual_seed(0)
    teacher = MODELS.build(cfg.model.teachers.teacher.model)
    teacher_ckpt = str(tmp_path / 'teacher.pth')
    atomic_torch_save(dict(state_dict=teacher.state_dict()), teacher_ckpt)
    cfg.model.teachers.teacher.checkpoint = teacher_ckpt
    torch.manual_seed(1)
    algo = MODELS.build(cfg.model)
    randomise_bn_statistics(algo.student, seed=2)
    ckpt = str(tmp_path / 'kd.pth')
    atomic_torch_save(dict(state_dict=algo.state_dict(), meta=dict(epoch=1)), ckpt)
    assert any(k.startswith('teachers.') for k in algo.state_dict())

    out = str(tmp_path / 'export' / 'student.pth')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'export_student.py'),
                           KD_CONFIG, ckpt, out], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    config_out = str(tmp_path / 'export' / 'student.py')
    assert f'student checkpoint: {out}' in proc.stdout
    assert f'student config: {config_out}' in proc.stdout

    exported = torch.load(out, map_location='cpu', weights_only=True)
    assert exported['meta']['source'] == osp.abspath(ckpt)
    state_dict = exported['state_dict']
    assert not any(k.startswith(('teachers.', 'distiller.', 'student.')) for k in state_dict)
    assert set(state_dict) == set(algo.student.state_dict())

    student_cfg = Config.fromfile(config_out)
    assert student_cfg.model.type == 'ConvClassifier'
    assert tuple(student_cfg.model.channels) == (4, 8)
    assert 'teachers' not in student_cfg.model
    student = MODELS.build(student_cfg.model)
    student.load_state_dict(state_dict, strict=True)
    student.eval()
    algo.eval()
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(student(x), algo.student(x), rtol=0, atol=0)
        torch.testing.assert_close(student(x), algo(x, mode='tensor'), rtol=0, atol=0)
    # The exported config still has the data and evaluation parts, so tools/test.py runs it.
    assert student_cfg.test_dataloader.dataset.type == 'DigitsDataset'
    assert student_cfg.test_evaluator.type == 'Accuracy'


def test_export_mutual_learning_peer(tmp_path):
    config = tmp_path / 'dml.py'
    config.write_text(
        "model = dict(type='MutualLearning', predict_with='b',\n"
        "    students=dict(a=dict(type='ConvClassifier', channels=(4, 8)),\n"
        "                  b=dict(type='ConvClassifier', channels=(6, 6))),\n"
        "    distiller=dict(recorders=dict(a=dict(logits='head'), b=dict(logits='head')),\n"
        "        losses=dict(kd=dict(type='KDLoss', inputs=dict(\n"
        "            student_logits='a.logits', teacher_logits='b.logits')))))\n")
    cfg = Config.fromfile(str(config))
    assert student_prefix(cfg.model) == 'students.b.'
    assert student_prefix(cfg.model, 'a') == 'students.a.'
    with pytest.raises(KeyError, match=r"--student: no student named 'c'; students are "
                                       r"\['a', 'b'\]"):
        student_prefix(cfg.model, 'c')
    torch.manual_seed(0)
    algo = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'dml.pth')
    atomic_torch_save(dict(state_dict=algo.state_dict()), ckpt)
    for name in ('a', 'b'):
        out = str(tmp_path / f'peer_{name}.pth')
        written = export_student(str(config), ckpt, out, student=name)
        assert written == dict(checkpoint=out, config=str(tmp_path / f'peer_{name}.py'))
        state_dict = load_state_dict_file(out, 'exported')
        peer = MODELS.build(Config.fromfile(written['config']).model)
        peer.load_state_dict(state_dict, strict=True)
        for key, value in algo.students[name].state_dict().items():
            assert torch.equal(state_dict[key], value)
    assert student_config(cfg).model.channels == (6, 6)     # predict_with='b'


def test_non_distillation_config_is_rejected(tmp_path):
    torch.manual_seed(0)
    ckpt = str(tmp_path / 'plain.pth')
    atomic_torch_save(dict(state_dict=MODELS.build(
        Config.fromfile(STUDENT_CONFIG).model).state_dict()), ckpt)
    with pytest.raises(KeyError, match=r"model: 'ConvClassifier' has no 'student' or 'students' "
                                       r'key; is this a distillation config\?'):
        export_student(STUDENT_CONFIG, ckpt, str(tmp_path / 'out.pth'))
    assert not osp.exists(tmp_path / 'out.pth')


def test_exported_config_keeps_the_algorithms_data_preprocessor(tmp_path):
    """The student was trained behind the algorithm's data_preprocessor (here a normalisation);
    the exported student must see its inputs the same way."""
    config = tmp_path / 'kd_norm.py'
    config.write_text(
        "model = dict(type='Distill',\n"
        "    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[0.5], std=[0.25]),\n"
        "    student=dict(type='ConvClassifier', channels=(4, 8)),\n"
        "    teachers=dict(teacher=dict(model=dict(type='ConvClassifier', channels=(8, 16)))),\n"
        "    distiller=dict(recorders=dict(student=dict(logits='head'),\n"
        "                                  teacher=dict(logits='head')),\n"
        "        losses=dict(kd=dict(type='KDLoss', inputs=dict(\n"
        "            student_logits='student.logits', teacher_logits='teacher.logits')))))\n")
    torch.manual_seed(0)
    algo = MODELS.build(Config.fromfile(str(config)).model)
    randomise_bn_statistics(algo.student, seed=1)
    ckpt = str(tmp_path / 'kd.pth')
    atomic_torch_save(dict(state_dict=algo.state_dict()), ckpt)
    written = export_student(str(config), ckpt, str(tmp_path / 'student.pth'))
    student_cfg = Config.fromfile(written['config'])
    assert student_cfg.model.get('data_preprocessor') == dict(
        type='ImgDataPreprocessor', mean=[0.5], std=[0.25])
    student = MODELS.build(student_cfg.model)
    student.load_state_dict(load_state_dict_file(written['checkpoint'], 'exported'),
                            strict=True)
    algo.eval()
    student.eval()
    data = dict(inputs=[torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(i))
                        for i in range(4)],
                data_samples=dict(labels=torch.tensor([0, 1, 2, 3])))
    with torch.no_grad():
        ours = student.test_step(data)
        theirs = algo.test_step(data)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a['scores'], b['scores'], rtol=0, atol=0)
