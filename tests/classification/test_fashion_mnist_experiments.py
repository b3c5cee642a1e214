"""The Fashion-MNIST experiment configs, run for real at a tiny budget (1 epoch of 256 training
images, 128 validation and test images, one seed): every run trains, the cached runs write and
then reuse their teacher cache, and the report shows the best-validation and the last epoch."""
import contextlib
import io
import json
import os.path as osp

import pytest
from mmengine.config import Config

from mmkd.classification.fashion_mnist import FASHION_MNIST_ROOT
from mmkd.engine.experiment import run_experiment

pytestmark = pytest.mark.skipif(
    not osp.isfile(osp.join(FASHION_MNIST_ROOT, 'train-images-idx3-ubyte.gz')),
    reason='dataset-fashion-mnist is not installed (make install does)')
EXPERIMENTS = osp.join(osp.dirname(__file__), '..', '..', 'configs', 'experiments')


def tiny(run: dict, tmp_path) -> dict:
    """The run at a tiny budget, with every file it writes or reads under ``tmp_path``."""
    cfg = Config.fromfile(run['config'])
    dataset = 'train_dataloader.dataset'
    options = {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
               'default_hooks.checkpoint.interval': 1,
               'val_dataloader.dataset.num_samples': 128,
               'test_dataloader.dataset.num_samples': 128}
    if cfg.model.get('teacher_cache'):
        cache = str(tmp_path / 'cache' / osp.basename(cfg.model.teacher_cache.path))
        options.update({'model.teacher_cache.path': cache, f'{dataset}.path': cache})
        dataset += '.dataset'
    options[f'{dataset}.num_samples'] = 256
    if 'teacher2' in (cfg.model.get('teachers') or {}):
        options['model.teachers.teacher2.checkpoint'] = str(
            tmp_path / 'demo_teacher' / 'epoch_1.pth')
    work_dir = run.get('work_dir')
    run = dict(run, cfg_options=dict(run.get('cfg_options') or {}, **options))
    if work_dir:  # a shared teacher or baseline: its folder under tmp_path
        run['work_dir'] = str(tmp_path / osp.basename(work_dir.rstrip('/')))
    return run


def run_tiny(name: str, tmp_path):
    exp = Config.fromfile(osp.join(EXPERIMENTS, name))
    runs = [tiny(run, tmp_path) for run in exp.runs]
    path = tmp_path / name
    path.write_text(f"metric = {exp.metric!r}\nseeds = [0]\nruns = {runs!r}\n"
                    f"scratch_run = {exp.get('scratch_run', 'scratch')!r}\n"
                    f"gap_curves = {exp.get('gap_curves', False)!r}\n")
    work_dir = tmp_path / 'work'
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        outcome = run_experiment(str(path), str(work_dir))
    with open(work_dir / 'results.json') as f:
        return exp, {r['name']: r for r in json.load(f)}, outcome, out.getvalue()


def test_method_table_runs_every_method(tmp_path):
    exp, results, outcome, out = run_tiny('fashion_mnist_methods.py', tmp_path)
    assert list(results) == [run['name'] for run in exp.runs]
    assert {'KD', 'DKD', 'DIST', 'RKD+KD', 'PKT+KD', 'SP+KD', 'CRD+KD', 'FitNets+KD', 'AT+KD',
            'MultiTeacherKD', 'mutual learning', 'EMA self-KD'} <= set(results)
    student_params = results['scratch']['params']
    for name, r in results.items():
        assert 0 <= r['metrics']['accuracy/top1'] <= 100
        assert r['best_epoch'] == 1 and 0 <= r['metrics_best']['accuracy/top1'] <= 100
        if 'teacher' not in name:
            assert r['params'] == student_params == 1702, name   # the deployed student only
    assert results['teacher']['params'] == 1_204_090
    # the cached runs share one cache of the 1.2 M teacher (written once), MultiTeacherKD has its
    # own of both teachers
    assert out.count('teacher cache: ') == 7 + 1
    assert osp.isfile(tmp_path / 'cache' / 'fashion_mnist_resnet' / 'manifest.json')
    assert osp.isfile(tmp_path / 'cache' / 'fashion_mnist_resnet_and_cnn' / 'manifest.json')
    header = outcome['table'].splitlines()[0]
    assert 'accuracy/top1 (best val epoch)' in header and 'accuracy/top1 (last epoch)' in header
    assert 'gap closed (best val epoch)' in header


def test_label_scarce_protocol_hides_labels_and_reuses_the_teacher(tmp_path):
    exp, results, outcome, out = run_tiny('fashion_mnist_label_scarce.py', tmp_path)
    assert list(results) == [run['name'] for run in exp.runs]
    kd = Config.fromfile(osp.join(results['KD (1 % labels)']['work_dir'], 'seed0',
                                  'kd_cnn_fmnist_1pct.py'))
    assert kd.train_dataloader.dataset.dataset.labelled_fraction == 0.01
    assert kd.model.teachers.teacher.checkpoint == results['teacher']['checkpoint']
    scratch = Config.fromfile(osp.join(results['scratch (1 % labels)']['work_dir'], 'seed0',
                                       'cnn_student_fmnist_1pct.py'))
    assert scratch.train_dataloader.dataset.subset == 'labelled'
    with open(outcome['report']) as f:
        assert 'scratch (all labels)' in f.read()


def test_patient_protocol_matches_the_teacher_on_mixed_images(tmp_path):
    exp, results, outcome, out = run_tiny('fashion_mnist_patient.py', tmp_path)
    assert list(results) == [run['name'] for run in exp.runs]
    work_dir = results['function matching (60 epochs)']['work_dir']
    cfg = Config.fromfile(osp.join(work_dir, 'seed0', 'funmatch_cnn_fmnist.py'))
    assert cfg.model.student_loss_weight == 0.0
    assert cfg.train_dataloader.dataset.dataset.mix == 'mixup_cutmix'
    assert cfg.train_dataloader.dataset.num_augs == 8
    # the ablation: the same label-free objective and schedule on protocol (a)'s 4 augmentations
    work_dir = results['function matching without mixing (60 epochs)']['work_dir']
    ablation = Config.fromfile(osp.join(work_dir, 'seed0', 'funmatch_nomix_cnn_fmnist.py'))
    assert ablation.model.student_loss_weight == 0.0
    assert ablation.model.distiller.losses.loss_kd.temperature == 1.0
    assert ablation.train_dataloader.dataset.dataset.get('mix') is None
    assert ablation.train_dataloader.dataset.num_augs == 4
    assert ablation.param_scheduler[1].end == cfg.param_scheduler[1].end == 60


def test_demo_runs_teacher_scratch_and_kd(tmp_path):
    exp, results, outcome, out = run_tiny('fashion_mnist_demo.py', tmp_path)
    assert list(results) == ['teacher', 'scratch (1 % labels)', 'KD (1 % labels + transfer set)']
    assert results['teacher']['work_dir'] == str(tmp_path / 'demo_teacher')
    assert '| KD (1 % labels + transfer set) |' in outcome['table']
