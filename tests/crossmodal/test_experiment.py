"""The experiment runner on the cross-modal configs, at a tiny budget (1 epoch, 2 shapes per
class): an MVCNN teacher -> scratch -> PPKT+KD student on depth views (2D -> 3D), and a CLIP
teacher -> ULIP point student whose frozen teacher and text tower both take the teacher run's
checkpoint (``teacher_checkpoint_keys``), with the "of teacher" report column."""
import contextlib
import io
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from conftest import REPO
from mmkd.fileio import load_state_dict_file
from mmkd.engine.experiment import read_scalars, report_table, run_experiment

CONFIGS = osp.join(REPO, 'configs', 'crossmodal')


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory):
    """One SyntheticShapes cache (2 train / 1 val / 1 test shape per class) for the experiments."""
    return str(tmp_path_factory.mktemp('shapes'))


def data_options(cache_dir, batch_size=8):
    # 1 epoch, no validation pass before the test pass
    options = {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 2,
               'default_hooks.logger.interval': 1,
               'train_dataloader.batch_size': batch_size,
               'train_dataloader.dataset.dataset.num_train_per_class': 2,
               'train_dataloader.dataset.dataset.cache_dir': cache_dir}
    for split in ('val', 'test'):
        options[f'{split}_dataloader.dataset.dataset.num_{split}_per_class'] = 1
        options[f'{split}_dataloader.dataset.dataset.cache_dir'] = cache_dir
    return options


def run(tmp_path, runs, **top):
    config = tmp_path / 'exp.py'
    lines = [f'{k} = {v!r}' for k, v in top.items()] + [f'runs = {runs!r}']
    config.write_text('\n'.join(lines) + '\n')
    work_dir = str(tmp_path / 'work')
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        outcome = run_experiment(str(config), work_dir)
    with open(osp.join(work_dir, 'results.json')) as f:
        results = {r['name']: r for r in json.load(f)}
    return outcome, results


def test_tiny_2d_to_3d_experiment(tmp_path, cache_dir):
    data = data_options(cache_dir)
    teacher_channels = {'model.teachers.teacher.model.channels': (4, 8)}
    outcome, results = run(tmp_path, [
        dict(name='teacher', config=osp.join(CONFIGS, 'mvcnn_teacher_shapes.py'),
             cfg_options=dict(data, **{'model.channels': (4, 8)})),
        dict(name='scratch', config=osp.join(CONFIGS, 'pointnet_student_shapes_views.py'),
             cfg_options=data),
        dict(name='PPKT+KD', config=osp.join(CONFIGS, 'ppkt_mvcnn_pointnet_shapes.py'),
             teacher_from='teacher',
             cfg_options=dict(data, **teacher_channels,
                              **{'model.distiller.connectors.points_s.out_channels': 8})),
    ], metric='accuracy/top1')
    assert list(results) == ['teacher', 'scratch', 'PPKT+KD']
    for r in results.values():
        assert osp.basename(r['checkpoint']) == 'epoch_1.pth'
        assert 0.0 <= r['metrics']['accuracy/top1'] <= 100.0
    # the student shipped by the PPKT run is the plain PointNet (no teacher, no connector)
    assert results['PPKT+KD']['params'] == results['scratch']['params']
    assert results['teacher']['params'] != results['scratch']['params']
    # the distilled run loaded the teacher run's weights and trained with both losses
    ckpt = results['teacher']['checkpoint']
    cfg = Config.fromfile(osp.join(results['PPKT+KD']['work_dir'],
                                   'ppkt_mvcnn_pointnet_shapes.py'))
    assert cfg.model.teachers.teacher.checkpoint == ckpt
    frozen = load_state_dict_file(results['PPKT+KD']['checkpoint'], 'PPKT',
                                  prefix='teachers.teacher.')
    for key, value in load_state_dict_file(ckpt, 'teacher').items():
        assert torch.equal(frozen[key], value), key
    train = [x for x in read_scalars(results['PPKT+KD']['scalars']) if 'loss' in x]
    assert len(train) == 3  # 24 clouds at batch 8
    for record in train:
        # both losses were computed (finite, non-negative) in every iteration
        assert 0.0 < record['distill.loss_ppkt'] < 50.0 and record['distill.loss_kd'] >= 0
    lines = outcome['table'].splitlines()
    assert len(lines) == 5 and lines[-1].startswith('| PPKT+KD | ')


def test_tiny_clip_to_3d_experiment(tmp_path, cache_dir):
    data = data_options(cache_dir, batch_size=12)
    keys = ['model.teachers.clip.checkpoint', 'model.student.text_encoder.pretrained']
    outcome, results = run(tmp_path, [
        dict(name='CLIP', config=osp.join(CONFIGS, 'clip_teacher_shapes.py'), cfg_options=data),
        dict(name='ULIP', config=osp.join(CONFIGS, 'ulip_pointclip_shapes.py'),
             teacher_from='CLIP', teacher_checkpoint_keys=keys, cfg_options=data),
    ], metric='zeroshot/top1', teacher_run='CLIP', scratch_run=None, teacher_ratio=True)
    ckpt = results['CLIP']['checkpoint']
    cfg = Config.fromfile(osp.join(results['ULIP']['work_dir'], 'ulip_pointclip_shapes.py'))
    assert cfg.model.teachers.clip.checkpoint == ckpt
    assert cfg.model.student.text_encoder.pretrained == ckpt
    # 12 classes, one test shape each: top-1 is a multiple of 100 / 12
    for r in results.values():
        assert r['metrics']['zeroshot/top1'] * 12 / 100 == pytest.approx(
            round(r['metrics']['zeroshot/top1'] * 12 / 100), abs=1e-6)
    train = [x for x in read_scalars(results['ULIP']['scalars']) if 'loss' in x]
    assert train and all(x['student.loss_zs'] == 0.0 for x in train)  # no labels used
    assert all(x['distill.loss_pc_text'] > 0 and x['distill.loss_pc_image'] > 0 for x in train)
    teacher, student = (results[n]['metrics']['zeroshot/top1'] for n in ('CLIP', 'ULIP'))
    last = outcome['table'].splitlines()[-1]
    assert outcome['table'].splitlines()[0].endswith('| gap closed | of teacher |')
    if teacher > 0:
        assert last.endswith(f'|  | {100 * student / teacher:.1f} % |')


def test_report_table_teacher_ratio_column():
    def result(name, value):
        return dict(name=name, metrics={'m': value}, params=10, latency_ms=1.0)

    table = report_table([result('t', 80.0), result('s', 60.0), result('x', 70.0)], 'm', 't',
                         None, teacher_ratio=True)
    assert table.splitlines() == [
        '| run | m | params | CPU latency / sample (ms) | gap closed | of teacher |',
        '|---|---|---|---|---|---|',
        '| t | 80.00 | 10 | 1.000 |  |  |',
        '| s | 60.00 | 10 | 1.000 |  | 75.0 % |',
        '| x | 70.00 | 10 | 1.000 |  | 87.5 % |']


def tiny_run(run: dict, cache_dir: str, tmp_path) -> dict:
    """An experiment config's run at a tiny budget: 1 epoch, 2 / 1 / 1 shapes per class, a
    4/8-channel teacher, its shared folders under ``tmp_path``."""
    cfg = Config.fromfile(run['config'])
    options = dict(run.get('cfg_options') or {}, **data_options(cache_dir))
    train = 'train_dataloader.dataset.dataset'
    if cfg.train_dataloader.dataset.dataset.type == 'LabelScarce':
        for key in ('num_train_per_class', 'cache_dir'):
            options[f'{train}.dataset.{key}'] = options.pop(f'{train}.{key}')
    if cfg.model.type == 'MultiViewImageClassifier':
        options['model.channels'] = (4, 8)
    elif 'teachers' in cfg.model:
        options['model.teachers.teacher.model.channels'] = (4, 8)
    run = dict(run, cfg_options=options)
    if run.get('work_dir'):
        run['work_dir'] = str(tmp_path / 'shared' / osp.basename(run['work_dir']))
    return run


def run_tiny_experiment(name: str, cache_dir: str, tmp_path):
    tmp_path.mkdir()
    exp = Config.fromfile(osp.join(REPO, 'configs', 'experiments', name))
    runs = [tiny_run(run, cache_dir, tmp_path) for run in exp.runs]
    return exp, run(tmp_path, runs, metric=exp.metric, seeds=[0], teacher_run=exp.teacher_run,
                    scratch_run=exp.scratch_run)[1]


def test_tiny_ablation_and_label_free_experiments(tmp_path, cache_dir):
    exp, results = run_tiny_experiment('crossmodal_2d3d_ablations.py', cache_dir,
                                       tmp_path / 'ablations')
    assert list(results) == [r['name'] for r in exp.runs]
    # the student on 128 points learns from the teacher on views of those 128 points
    work = results['KD (teacher on views of the 128 points)']['per_seed'][0]['work_dir']
    cfg = Config.fromfile(osp.join(work, 'kd_mvcnn_pointnet_shapes.py'))
    assert cfg.model.teachers.teacher.checkpoint == results[
        'teacher (MVCNN, views of the 128 points)']['checkpoint']
    assert cfg.train_dataloader.dataset.num_points is None
    assert cfg.train_dataloader.dataset.dataset.transforms[0].num_points == 128
    # the x0.25-width student has more parameters than the 1/8 one
    assert results['KD (width x0.25)']['params'] > results['KD']['params']

    exp, results = run_tiny_experiment('crossmodal_2d3d_label_free.py', cache_dir,
                                       tmp_path / 'label_free')
    assert list(results) == [r['name'] for r in exp.runs]
    losses = {name: [x for x in read_scalars(results[name]['per_seed'][0]['scalars'])
                     if 'loss' in x]
              for name in ('KD, no 3D labels', 'KD + 1 % labels')}
    # no 3D label reaches the label-free student's loss; the teacher's outputs do
    assert losses['KD, no 3D labels']
    assert all(x['student.loss_cls'] == 0 and x['distill.loss_kd'] > 0
               for x in losses['KD, no 3D labels'])
    # with one labelled cloud per class (12 of 24) some batch has a label
    assert any(x['student.loss_cls'] > 0 for x in losses['KD + 1 % labels'])
