"""Experiments: gap closed, the report table, and a tiny real teacher -> scratch -> KD run."""
import contextlib
import io
import json
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config

from conftest import REPO
from mmkd.engine.experiment import (count_params, first_sample, gap_closed, plot_gap_curves,
                                    read_scalars, report_table, run_experiment, validation_curve)
from mmkd.engine.student import deployable_module
from mmkd.fileio import load_state_dict_file
from mmkd.registry import MODELS

CONFIGS = osp.join(REPO, 'configs', 'digits')
METRIC = 'accuracy/top1'


def test_gap_closed_known_numbers():
    assert gap_closed(90.0, 80.0, 100.0) == pytest.approx(0.5)
    assert gap_closed(80.0, 80.0, 100.0) == 0.0
    assert gap_closed(100.0, 80.0, 100.0) == 1.0
    assert gap_closed(75.0, 80.0, 100.0) == pytest.approx(-0.25)     # worse than scratch
    assert gap_closed(105.0, 80.0, 100.0) == pytest.approx(1.25)     # beats the teacher
    assert gap_closed(90.0, 80.0, 80.0) is None                      # no gap to close
    assert gap_closed(90.0, 85.0, 80.0) is None


def result(name, value, params, latency):
    return dict(name=name, metrics={METRIC: value, 'accuracy/top5': 100.0}, params=params,
                latency_ms=latency)


def test_report_table_formatting():
    results = [result('teacher', 98.5, 300000, 1.23456),
               result('scratch', 86.0, 700, 0.1),
               result('KD', 92.25, 700, 0.1234),
               result('DKD', 85.0, 1234567, 0.0005)]
    assert report_table(results, METRIC, 'teacher', 'scratch') == '\n'.join([
        '| run | accuracy/top1 | params | CPU latency / sample (ms) | gap closed |',
        '|---|---|---|---|---|',
        '| teacher | 98.50 | 300,000 | 1.235 |  |',
        '| scratch | 86.00 | 700 | 0.100 |  |',
        '| KD | 92.25 | 700 | 0.123 | 50.0 % |',
        '| DKD | 85.00 | 1,234,567 | 0.001 | -8.0 % |'])


def test_report_table_extra_metric_columns():
    results = [result('teacher', 98.5, 300000, 1.0), result('scratch', 86.0, 700, 0.1),
               dict(result('KD', 92.25, 700, 0.1), metrics_std={METRIC: 0.5, 'accuracy/top5': 0.25},
                    seeds=[0, 1])]
    lines = report_table(results, METRIC, 'teacher', 'scratch', ['accuracy/top5']).splitlines()
    assert lines[0] == ('| run | accuracy/top1 | accuracy/top5 | params | '
                        'CPU latency / sample (ms) | gap closed |')
    assert lines[1] == '|---|---|---|---|---|---|'
    assert lines[2] == '| teacher | 98.50 | 100.00 | 300,000 | 1.000 |  |'
    assert lines[4] == '| KD | 92.25 ± 0.50 (2 seeds) | 100.00 ± 0.25 | 700 | 0.100 | 50.0 % |'


def test_report_table_without_a_gap():
    # Teacher not better than scratch: n/a. Missing teacher run: empty gap column.
    results = [result('teacher', 80.0, 10, 1.0), result('scratch', 90.0, 5, 1.0),
               result('KD', 95.0, 5, 1.0)]
    assert report_table(results, METRIC, 'teacher', 'scratch').splitlines()[-1] == \
        '| KD | 95.00 | 5 | 1.000 | n/a |'
    lines = report_table(results[1:], METRIC, 'teacher', 'scratch').splitlines()
    assert lines[-1] == '| KD | 95.00 | 5 | 1.000 |  |'
    # Custom run names.
    lines = report_table([result('big', 90.0, 9, 1.0), result('small', 80.0, 1, 1.0),
                          result('kd', 85.0, 1, 1.0)], METRIC, 'big', 'small').splitlines()
    assert lines[-1].endswith('| 50.0 % |')


def test_report_table_best_validation_and_last_epoch_columns():
    def both(name, best, last, **extra):
        return dict(result(name, last, 10, 1.0), metrics_best={METRIC: best}, **extra)
    results = [both('teacher', 95.0, 94.0), both('scratch', 85.0, 84.0),
               both('KD', 90.0, 89.0, metrics_std={METRIC: 0.5},
                    metrics_best_std={METRIC: 0.25}, seeds=[0, 1, 2])]
    lines = report_table(results, METRIC, 'teacher', 'scratch').splitlines()
    assert lines[0] == ('| run | accuracy/top1 (best val epoch) | accuracy/top1 (last epoch) | '
                        'params | CPU latency / sample (ms) | gap closed (best val epoch) | '
                        'gap closed (last epoch) |')
    assert lines[1] == '|---|---|---|---|---|---|---|'
    assert lines[-1] == ('| KD | 90.00 ± 0.25 (3 seeds) | 89.00 ± 0.50 (3 seeds) | 10 | 1.000 | '
                         '50.0 % | 50.0 % |')
    # one run without a best epoch: the last epoch only, as before
    del results[1]['metrics_best']
    assert report_table(results, METRIC, 'teacher', 'scratch').splitlines()[0] == \
        '| run | accuracy/top1 | params | CPU latency / sample (ms) | gap closed |'


def write_scalars(path, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(json.dumps({METRIC: v, 'step': epoch}) + '\n'
                            for epoch, v in enumerate(values, 1)))
    return str(path)


def test_validation_curves_average_seeds_and_draw_the_gap_closed(tmp_path):
    seeds = [dict(scalars=[write_scalars(tmp_path / f's{i}' / 'scalars.json', values)])
             for i, values in enumerate([[80.0, 84.0], [82.0, 86.0]])]
    kd = dict(name='KD', per_seed=seeds)
    assert validation_curve(kd, METRIC) == {1: 81.0, 2: 85.0}
    teacher = dict(name='teacher', scalars=[write_scalars(tmp_path / 't.json', [90.0])])
    scratch = dict(name='scratch', scalars=[write_scalars(tmp_path / 'x.json', [70.0, 80.0])])
    path = str(tmp_path / 'gap.png')
    assert plot_gap_curves([teacher, scratch, kd], METRIC, 'teacher', 'scratch', path)
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    # a teacher no better than scratch: no figure
    weak = dict(name='teacher', scalars=[write_scalars(tmp_path / 'w.json', [79.0])])
    assert not plot_gap_curves([weak, scratch, kd], METRIC, 'teacher', 'scratch',
                               str(tmp_path / 'none.png'))
    assert not osp.exists(tmp_path / 'none.png')


def test_deployable_module():
    torch.manual_seed(0)
    algo = MODELS.build(dict(
        type='Distill', student=dict(type='ConvClassifier', channels=(4, 8)),
        teachers=dict(teacher=dict(model=dict(type='ConvClassifier', channels=(8, 16)))),
        distiller=dict(recorders=dict(student=dict(logits='head'), teacher=dict(logits='head')),
                       losses=dict(kd=dict(type='KDLoss', inputs=dict(
                           student_logits='student.logits', teacher_logits='teacher.logits'))))))
    assert deployable_module(algo) is algo.student
    assert count_params(deployable_module(algo)) == count_params(algo.student) < \
        count_params(algo)
    mutual = MODELS.build(dict(
        type='MutualLearning', predict_with='b',
        students=dict(a=dict(type='ConvClassifier', channels=(4,)),
                      b=dict(type='ConvClassifier', channels=(6,))),
        distiller=dict(recorders=dict(a=dict(logits='head'), b=dict(logits='head')),
                       losses=dict(kd=dict(type='KDLoss', inputs=dict(
                           student_logits='a.logits', teacher_logits='b.logits'))))))
    assert deployable_module(mutual) is mutual.students['b']
    plain = MODELS.build(dict(type='ConvClassifier', channels=(4,)))
    assert deployable_module(plain) is plain


TINY = {'train_cfg.max_epochs': 1, 'train_dataloader.dataset.num_samples': 128,
        'param_scheduler.0.T_max': 1, 'default_hooks.logger.interval': 1}
TINY_TEACHER = (8, 16)


def write_experiment(tmp_path, runs):
    path = tmp_path / 'exp.py'
    path.write_text(f"metric = {METRIC!r}\nruns = {runs!r}\n")
    return str(path)


def test_teacher_from_a_later_run_is_rejected(tmp_path):
    config = write_experiment(tmp_path, [
        dict(name='KD', config=osp.join(CONFIGS, 'kd_cnn_digits.py'), teacher_from='teacher'),
        dict(name='teacher', config=osp.join(CONFIGS, 'cnn_teacher_digits.py'))])
    with pytest.raises(KeyError, match=r"runs\[KD\]\.teacher_from: run 'teacher' has no final "
                                       r"checkpoint before 'KD' runs; order the runs so the "
                                       r"teacher comes first"):
        run_experiment(config, str(tmp_path / 'work'))
    config = write_experiment(tmp_path, [dict(name='teacher')])
    with pytest.raises(KeyError, match=r'runs\[0\] needs "name" and "config"'):
        run_experiment(config, str(tmp_path / 'work'))
    config = write_experiment(tmp_path, [
        dict(name='scratch (x1/8)', config=osp.join(CONFIGS, 'cnn_student_digits.py'))])
    with pytest.raises(ValueError, match=r"runs\[0\]\.name 'scratch \(x1/8\)' names its work "
                                         r"dir; it cannot contain '/'"):
        run_experiment(config, str(tmp_path / 'work'))
    assert not (tmp_path / 'work' / 'scratch (x1').exists()


def tiny_runs():
    return [
        dict(name='teacher', config=osp.join(CONFIGS, 'cnn_teacher_digits.py'), reuse=True,
             cfg_options=dict(TINY, **{'model.channels': TINY_TEACHER})),
        dict(name='scratch', config=osp.join(CONFIGS, 'cnn_student_digits.py'),
             cfg_options=TINY),
        dict(name='KD', config=osp.join(CONFIGS, 'kd_cnn_digits.py'), teacher_from='teacher',
             cfg_options=dict(TINY, **{'model.teachers.teacher.model.channels': TINY_TEACHER})),
    ]


@pytest.fixture(scope='module')
def experiment(tmp_path_factory):
    """One real teacher -> scratch -> KD experiment (1 epoch of 128 images each)."""
    tmp_path = tmp_path_factory.mktemp('experiment')
    config = write_experiment(tmp_path, tiny_runs())
    work_dir = str(tmp_path / 'work')
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        outcome = run_experiment(config, work_dir)
    return dict(config=config, work_dir=work_dir, outcome=outcome, out=out.getvalue())


def read_results(work_dir):
    with open(osp.join(work_dir, 'results.json')) as f:
        return {r['name']: r for r in json.load(f)}


def test_tiny_real_experiment_writes_results(experiment):
    work_dir, outcome = experiment['work_dir'], experiment['outcome']
    for name in ('results.json', 'report.md', 'accuracy.png'):
        assert osp.isfile(osp.join(work_dir, name)), name
    with open(osp.join(work_dir, 'accuracy.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    with open(osp.join(work_dir, 'results.json')) as f:
        results = json.load(f)
    assert [r['name'] for r in results] == ['teacher', 'scratch', 'KD']
    assert results == json.loads(json.dumps(outcome['results']))
    by_name = {r['name']: r for r in results}
    for r in results:
        assert r['work_dir'] == osp.join(work_dir, r['name'])
        assert osp.isfile(r['checkpoint']) and r['checkpoint'].startswith(r['work_dir'])
        assert osp.basename(r['checkpoint']) == 'epoch_1.pth'
        assert 0.0 <= r['metrics'][METRIC] <= 100.0
        assert {METRIC, 'accuracy/top5', 'accuracy/mean_class'} <= set(r['metrics'])
        assert r['latency_ms'] > 0
        assert osp.isfile(osp.join(r['work_dir'], 'result.json'))
    # Params are those of the deployed network: the KD run counts its student only.
    assert by_name['KD']['params'] == by_name['scratch']['params']
    assert by_name['teacher']['params'] > by_name['KD']['params']
    student = MODELS.build(dict(type='ConvClassifier', channels=(4, 8)))
    assert by_name['scratch']['params'] == count_params(student)

    with open(outcome['report']) as f:
        report = f.read()
    assert report.startswith('# exp.py\n\nCommand: `python tools/run_experiment.py ')
    assert outcome['table'] in report
    assert len(outcome['table'].splitlines()) == 5
    assert outcome['table'].splitlines()[-1].startswith('| KD | ')
    out = experiment['out']
    assert '==> [1/3] teacher' in out and '==> [3/3] KD' in out
    assert 'reusing' not in out


def test_kd_run_used_the_teacher_runs_checkpoint(experiment):
    by_name = {r['name']: r for r in experiment['outcome']['results']}
    teacher_ckpt = by_name['teacher']['checkpoint']
    kd_cfg = Config.fromfile(osp.join(by_name['KD']['work_dir'], 'kd_cnn_digits.py'))
    assert kd_cfg.model.teachers.teacher.checkpoint == teacher_ckpt
    # ... and its weights were loaded: the KD checkpoint's frozen teacher equals it.
    teacher_weights = load_state_dict_file(teacher_ckpt, 'teacher')
    kd_teacher = load_state_dict_file(by_name['KD']['checkpoint'], 'KD',
                                      prefix='teachers.teacher.')
    assert set(kd_teacher) == set(teacher_weights)
    for key, value in teacher_weights.items():
        assert torch.equal(kd_teacher[key], value), key


def test_second_call_reuses_the_teacher(experiment, capsys):
    config, work_dir = experiment['config'], experiment['work_dir']
    first = {r['name']: r for r in experiment['outcome']['results']}['teacher']
    teacher_ckpt = first['checkpoint']
    mtime = osp.getmtime(teacher_ckpt)
    again = run_experiment(config, work_dir, only=['teacher'])
    out = capsys.readouterr().out
    assert f'[teacher] reusing {teacher_ckpt}' in out
    assert '==> [2/3]' not in out
    assert osp.getmtime(teacher_ckpt) == mtime
    assert not osp.exists(osp.join(work_dir, 'teacher', 'epoch_2.pth'))
    [reused] = again['results']
    assert reused['checkpoint'] == teacher_ckpt
    assert reused['metrics'] == first['metrics']


def test_only_a_distilled_run_takes_the_teacher_of_an_earlier_invocation(experiment, capsys):
    """``--only KD`` after a full run: the teacher run is skipped, and its final checkpoint in
    the experiment's work dir is the KD run's teacher."""
    config, work_dir = experiment['config'], experiment['work_dir']
    teacher_ckpt = osp.join(work_dir, 'teacher', 'epoch_1.pth')
    outcome = run_experiment(config, work_dir, only=['KD'])
    assert [r['name'] for r in outcome['results']] == ['KD']
    kd_cfg = Config.fromfile(osp.join(work_dir, 'KD', 'kd_cnn_digits.py'))
    assert kd_cfg.model.teachers.teacher.checkpoint == teacher_ckpt
    assert '==> [3/3] KD' in capsys.readouterr().out


def test_reuse_does_not_take_an_unfinished_run(experiment, tmp_path, capsys):
    """A teacher run that stopped before its last epoch is trained on, not reused."""
    work_dir = str(tmp_path / 'work')
    shutil.copytree(osp.join(experiment['work_dir'], 'teacher'), osp.join(work_dir, 'teacher'))
    with open(osp.join(work_dir, 'teacher', 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work_dir, 'teacher', 'epoch_1.pth'))
    [teacher] = tiny_runs()[:1]
    teacher['cfg_options'].update({'train_cfg.max_epochs': 2, 'param_scheduler.0.T_max': 2})
    config = write_experiment(tmp_path, [teacher])
    outcome = run_experiment(config, work_dir)
    assert 'reusing' not in capsys.readouterr().out
    [result] = outcome['results']
    assert osp.basename(result['checkpoint']) == 'epoch_2.pth'


def test_first_sample_of_tensor_list_and_dict_batches():
    batch = dict(image=torch.arange(12.).reshape(3, 4), text=['a', 'b', 'c'])
    sample = first_sample(batch)
    assert sample['text'] == ['a'] and torch.equal(sample['image'], torch.arange(4.)[None])
    assert torch.equal(first_sample(torch.arange(6).reshape(3, 2)), torch.tensor([[0, 1]]))


def test_read_scalars_joins_the_log_folders_of_a_resumed_run(tmp_path):
    first, second = tmp_path / 'a.json', tmp_path / 'b.json'
    first.write_text('{"loss": 2.0, "step": 1}\n{"loss": 1.5, "step": 2}\n')
    second.write_text('{"loss": 1.0, "step": 3}\n\n')
    records = read_scalars([str(first), str(tmp_path / 'missing.json'), str(second)])
    assert [r['step'] for r in records] == [1, 2, 3]
    assert read_scalars(str(second)) == [{'loss': 1.0, 'step': 3}]
