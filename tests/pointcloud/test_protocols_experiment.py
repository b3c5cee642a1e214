"""configs/experiments/shapes_protocols.py at a tiny budget (1 epoch, 2 training shapes per class,
a 2-augmentation teacher cache in tmp): every run of the real experiment trains, the cached runs
read the teacher's logits from a cache the runner wrote, function matching uses no labels and the
label-scarce runs see labels on a stratified 10 %."""
import os.path as osp

import pytest
from mmengine.config import Config

from conftest import REPO, run_reduced_experiment
from mmkd.distill.cache import TeacherCache
from mmkd.engine.experiment import read_scalars
from mmkd.shared.label_subsets import HIDDEN_LABEL

EXPERIMENT = osp.join(REPO, 'configs', 'experiments', 'shapes_protocols.py')


def shapes_path(config: str) -> str:
    """The option path of the SyntheticShapes inside a config's (wrapped) training set."""
    dataset, path = Config.fromfile(osp.join(REPO, config)).train_dataloader.dataset, 'dataset'
    while dataset.type != 'SyntheticShapes':
        dataset, path = dataset.dataset, f'{path}.dataset'
    return path


def tiny_options(config: str, data_dir: str, cache_root: str, name: str) -> dict:
    options = {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
               'param_scheduler.0.T_max': 1, 'default_hooks.logger.interval': 1,
               f'train_dataloader.{shapes_path(config)}.num_train_per_class': 2,
               f'train_dataloader.{shapes_path(config)}.cache_dir': data_dir}
    for split in ('val', 'test'):
        options[f'{split}_dataloader.dataset.num_{split}_per_class'] = 1
        options[f'{split}_dataloader.dataset.cache_dir'] = data_dir
    if Config.fromfile(osp.join(REPO, config)).model.get('teacher_cache'):
        cache = osp.join(cache_root, name)
        options.update({'model.teacher_cache.path': cache, 'train_dataloader.dataset.path': cache,
                        'train_dataloader.dataset.num_augs': 2})
    return options


@pytest.fixture(scope='module')
def experiment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('protocols')
    exp, results = run_reduced_experiment(EXPERIMENT, tmp, lambda run: tiny_options(
        run['config'], str(tmp / 'data'), str(tmp / 'caches'), run['name']))
    return exp, results, str(tmp / 'caches')


def train_records(result, key):
    records = [x for x in read_scalars(result['scalars']) if 'loss' in x]
    assert records and all(key in x for x in records), (result['name'], key)
    return records


def test_every_run_of_the_experiment_trains(experiment):
    exp, results, _ = experiment
    assert list(results) == [run['name'] for run in exp.runs]
    for result in results.values():
        assert osp.basename(result['checkpoint']) == 'epoch_1.pth'
        assert 0.0 <= result['metrics']['accuracy/top1'] <= 100.0
    assert results['KD (width x0.25)']['params'] == results['scratch (width x0.25)']['params'] \
        > results['KD (cached teacher)']['params'] == results['scratch']['params']


def test_cached_runs_read_the_cache_the_runner_wrote(experiment):
    _, results, caches = experiment
    for name in ('KD (cached teacher)', 'function matching (200 epochs, no labels)',
                 'KD (10 % labels)', 'KD (width x0.25)'):
        assert TeacherCache(osp.join(caches, name)).num_augs == 2
        assert all(x['distill.loss_kd'] > 0 for x in train_records(results[name],
                                                                    'distill.loss_kd')), name
    # function matching: the KL to the teacher only, no label loss
    assert all(x['student.loss_cls'] == 0 for x in train_records(
        results['function matching (200 epochs, no labels)'], 'student.loss_cls'))


def test_label_scarce_runs_keep_a_stratified_tenth_of_the_labels(experiment):
    from mmkd.registry import DATASETS
    from mmengine.registry import init_default_scope
    exp, results, _ = experiment
    init_default_scope('mmkd')
    for name in ('scratch (10 % labels)', 'KD (10 % labels)'):
        cfg = Config.fromfile(osp.join(results[name]['work_dir'],
                                       osp.basename(dict((r['name'], r['config'])
                                                         for r in exp.runs)[name])))
        dataset = cfg.train_dataloader.dataset
        while dataset.type != 'LabelScarce':
            dataset = dataset.dataset
        assert dataset.labelled_fraction == 0.1, name
        built = DATASETS.build(dataset)
        labels = [built[i]['data_samples']['labels'] for i in range(24)]
        kept = [label for label in labels if label != HIDDEN_LABEL]
        # 2 shapes of each of 12 classes: 10 % rounds up to one labelled shape of each class
        assert sorted(kept) == list(range(12)), name
