"""mmkd.pointcloud.visualize and tools/render_pointclouds.py: real PNGs read back, real model
predictions, and the tool run as a subprocess on the real teacher config (small cached data in
tmp_path)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO
from mmkd.pointcloud.visualize import (CORRECT_COLOR, NEUTRAL_COLOR, WRONG_COLOR, pick_indices,
                                       predict_samples, render_samples, sample_color,
                                       sample_title)

pytest.importorskip('open3d')
Image = pytest.importorskip('PIL.Image')

CONFIG = 'configs/pointcloud/pointnet_teacher_shapes.py'
TOOL = os.path.join(REPO, 'tools', 'render_pointclouds.py')


def clouds(n, num_points=256):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        pts = rng.normal(size=(num_points, 3))
        pts[:, 2] *= 1 + i  # different shapes
        out.append(pts if i % 2 else torch.from_numpy(pts).float())  # numpy and tensors
    return out


def test_render_samples_writes_readable_png_of_expected_size(tmp_path):
    path = tmp_path / 'sub' / 'grid.png'
    result = render_samples(clouds(5), [f'gt: c{i}' for i in range(5)], str(path), ncols=3,
                            panel_size=2.0, dpi=50)
    assert result == str(path)
    with Image.open(path) as image:
        assert image.format == 'PNG'
        # 3 columns x 2 rows of 2-inch panels at 50 dpi
        assert image.size == (3 * 2 * 50, 2 * 2 * 50)
        pixels = np.asarray(image.convert('RGB'), dtype=np.float64)
    assert pixels.var() > 0
    # the clouds themselves are drawn (viridis colours), not only white and black title text
    assert (np.ptp(pixels, axis=2) > 60).mean() > 0.005


def test_render_samples_fewer_clouds_than_columns(tmp_path):
    path = render_samples(clouds(2), ['a', 'b'], str(tmp_path / 'two.png'), ncols=4, dpi=40)
    with Image.open(path) as image:
        assert image.size == (2 * 3 * 40, 3 * 40)


def test_render_samples_atomic_write_leaves_no_temp_file(tmp_path):
    path = tmp_path / 'grid.png'
    path.write_bytes(b'old')
    render_samples(clouds(2), ['a', 'b'], str(path), dpi=30)
    assert sorted(os.listdir(tmp_path)) == ['grid.png']
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_render_samples_checks_arguments(tmp_path):
    with pytest.raises(ValueError, match='titles'):
        render_samples(clouds(2), ['a'], str(tmp_path / 'x.png'))
    with pytest.raises(ValueError, match=r'points\[0\]'):
        render_samples([np.zeros((5, 2))], ['a'], str(tmp_path / 'x.png'))
    assert not os.listdir(tmp_path)


def test_title_colour_and_text():
    assert sample_color(3, 3) == CORRECT_COLOR
    assert sample_color(torch.tensor(2), 2) == CORRECT_COLOR
    assert sample_color(1, 2) == WRONG_COLOR
    assert sample_color(None, 2) == NEUTRAL_COLOR
    assert CORRECT_COLOR != WRONG_COLOR
    classes = ('box', 'table', 'chair')
    assert sample_title(classes, 1, 1) == 'pred: table (gt: table)'
    assert sample_title(classes, 2, 1) == 'pred: table (gt: chair)'
    assert sample_title(classes, 0) == 'gt: box'
    assert sample_title(None, 7, 5) == 'pred: 5 (gt: 7)'


def test_pick_indices_spread_and_deterministic():
    labels = [i % 4 for i in range(40)]
    chosen = pick_indices(labels, 8, seed=1)
    assert chosen == pick_indices(labels, 8, seed=1)
    assert len(set(chosen)) == 8
    counts = np.bincount([labels[i] for i in chosen], minlength=4)
    assert counts.tolist() == [2, 2, 2, 2]
    assert pick_indices(labels, 8, seed=2) != chosen
    assert sorted(pick_indices(labels[:3], 10)) == [0, 1, 2]


def test_predict_samples_runs_model_in_eval_mode(tmp_path):
    from mmkd.pointcloud.datasets import SyntheticShapes
    from mmkd.pointcloud.models import PointNetClassifier
    dataset = SyntheticShapes('test', num_test_per_class=1, num_points=64, cache_dir=None,
                              classes=('box', 'sphere', 'table'), progress=False)
    model = PointNetClassifier(num_classes=3, width=0.25)
    model.train()
    results = predict_samples(model, dataset, [2, 0, 1], batch_size=2)
    assert model.training
    assert [r['gt'] for r in results] == [2, 0, 1]
    assert all(r['points'].shape == (64, 3) for r in results)
    np.testing.assert_allclose(results[0]['points'], dataset.points[2])
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(dataset.points[[2, 0, 1]]))
    assert [r['pred'] for r in results] == logits.argmax(1).tolist()


def run_tool(*args, cwd=REPO):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='2')
    return subprocess.run([sys.executable, TOOL, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def tool_main(*args):
    """The tool's ``main`` in this process (faster than a subprocess); returns the PNG path."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('render_pointclouds', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(list(args))


def small_data(tmp_path):
    return ['--cfg-options', f'test_dataloader.dataset.cache_dir={tmp_path / "data"}',
            'test_dataloader.dataset.num_test_per_class=2',
            'test_dataloader.dataset.progress=False']


def test_tool_renders_predictions_of_a_checkpoint(tmp_path):
    from mmkd.engine.runner import load_config
    from mmkd.registry import MODELS
    cfg = load_config(os.path.join(REPO, CONFIG))
    model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'model.pth'
    torch.save({'state_dict': model.state_dict()}, ckpt)
    out = tmp_path / 'x.png'
    proc = run_tool(CONFIG, str(ckpt), '--num', '4', '--out', str(out), *small_data(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()
    assert str(out) in proc.stdout
    assert '/4 predictions correct' in proc.stdout
    with Image.open(out) as image:
        assert image.size == (4 * 300, 300)
    assert sorted(os.listdir(tmp_path)) == ['data', 'model.pth', 'x.png']


def test_tool_missing_checkpoint_fails_naming_the_path(tmp_path):
    missing = tmp_path / 'nope' / 'epoch_20.pth'
    out = tmp_path / 'x.png'
    proc = run_tool(CONFIG, str(missing), '--out', str(out), *small_data(tmp_path))
    assert proc.returncode != 0
    assert str(missing) in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not out.exists()


def test_tool_renders_the_student_of_a_distillation_config(tmp_path):
    """The student is built alone (the teacher's checkpoint need not exist) and takes the
    ``student.`` keys of a distillation checkpoint, or all keys of an exported student."""
    from mmkd.registry import MODELS
    config = tmp_path / 'kd_pointnet_shapes.py'
    base = os.path.join(REPO, 'configs', 'pointcloud', 'pointnet_teacher_shapes.py')
    config.write_text(
        f'_base_ = [{base!r}]\n'
        "student_cfg = dict(type='PointNetClassifier', num_classes=12, width=0.25)\n"
        "model = dict(_delete_=True, type='Distill', student=student_cfg,\n"
        "             teachers=dict(teacher=dict(model=dict(type='PointNetClassifier',\n"
        "                 num_classes=12), checkpoint='missing/teacher.pth')),\n"
        "             distiller=dict(recorders=dict(), losses=dict()))\n")
    student = MODELS.build(dict(type='PointNetClassifier', num_classes=12, width=0.25))
    full, exported = tmp_path / 'full.pth', tmp_path / 'student.pth'
    torch.save({'state_dict': {f'student.{k}': v for k, v in student.state_dict().items()}},
               full)
    torch.save({'state_dict': student.state_dict()}, exported)
    for ckpt in (full, exported):
        out = tmp_path / f'{ckpt.stem}.png'
        path = tool_main(str(config), str(ckpt), '--num', '3', '--out', str(out),
                         *small_data(tmp_path))
        assert path == str(out) and out.is_file()


def test_tool_without_checkpoint_renders_ground_truth_to_default_path(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.chdir(tmp_path)
    path = tool_main(os.path.join(REPO, CONFIG), '--num', '2', *small_data(tmp_path))
    assert path == os.path.join('work_dirs', 'renders', 'pointnet_teacher_shapes.png')
    assert (tmp_path / path).is_file()
    stdout = capsys.readouterr().out
    assert stdout.strip().endswith(path)
    assert 'predictions correct' not in stdout
    # the same seed gives the same picture (sample choice and random transforms)
    first = (tmp_path / path).read_bytes()
    tool_main(os.path.join(REPO, CONFIG), '--num', '2', *small_data(tmp_path))
    assert (tmp_path / path).read_bytes() == first
