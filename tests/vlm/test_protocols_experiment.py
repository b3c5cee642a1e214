"""configs/experiments/scenes_clip_protocols.py at a tiny budget (1 epoch of 64 scenes): the
teacher and the CNN-tower students (alone, FD, and both with 10 % of the captions) train, the FD
runs read the teacher's embeddings from the one-pass caches the runner wrote (the scenes are not
augmented), and the caption-scarce runs see captions on a stratified tenth of the scenes."""
import os.path as osp

from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import REPO, run_reduced_experiment
from mmkd.distill.cache import TeacherCache
from mmkd.engine.experiment import read_scalars
from mmkd.registry import DATASETS

EXPERIMENT = osp.join(REPO, 'configs', 'experiments', 'scenes_clip_protocols.py')
RUNS = ('teacher', 'scratch (CNN tower)', 'FD (CNN tower)', 'scratch (CNN tower, 10 % captions)',
        'FD (CNN tower, 10 % captions)')


def scenes_path(config: str) -> str:
    """The option path of the scenes inside a config's (wrapped) training set."""
    dataset, path = Config.fromfile(osp.join(REPO, config)).train_dataloader.dataset, 'dataset'
    while dataset.type != 'SyntheticCaptionedScenes':
        dataset, path = dataset.dataset, f'{path}.dataset'
    return path


def tiny_options(config: str, data_dir: str, cache: str) -> dict:
    train = f'train_dataloader.{scenes_path(config)}'
    options = {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
               'default_hooks.logger.interval': 1, 'train_dataloader.batch_size': 32,
               f'{train}.num_train': 64, f'{train}.cache_dir': data_dir}
    for split in ('val', 'test'):
        options[f'{split}_dataloader.dataset.num_{split}'] = 16
        options[f'{split}_dataloader.dataset.cache_dir'] = data_dir
    if Config.fromfile(osp.join(REPO, config)).model.get('teacher_cache'):
        options.update({'model.teacher_cache.path': cache, 'train_dataloader.dataset.path': cache})
    return options


def test_cnn_tower_runs_train_and_fd_reads_the_cache(tmp_path):
    _, results = run_reduced_experiment(
        EXPERIMENT, tmp_path, lambda run: tiny_options(
            run['config'], str(tmp_path / 'data'), str(tmp_path / 'caches' / run['name'])),
        names=RUNS)
    assert list(results) == list(RUNS)
    for result in results.values():
        assert osp.basename(result['checkpoint']) == 'epoch_1.pth'
        assert 0.0 <= result['metrics']['zeroshot/top1'] <= 100.0
    assert len({results[name]['params'] for name in RUNS[1:]}) == 1

    for name in ('FD (CNN tower)', 'FD (CNN tower, 10 % captions)'):
        # one pass of the teacher over the 64 scenes (the equality of cached and live embeddings
        # is tests/distill/test_cache.py's)
        cache = TeacherCache(str(tmp_path / 'caches' / name))
        assert (cache.num_augs, cache.num_samples) == (1, 64)
        records = [x for x in read_scalars(results[name]['scalars']) if 'loss' in x]
        assert records and all(x['distill.loss_fd'] > 0 for x in records)

    cfg = Config.fromfile(osp.join(results['FD (CNN tower, 10 % captions)']['work_dir'],
                                   'fd_clip_scenes_cnn_caption_scarce.py'))
    init_default_scope('mmkd')
    scarce = DATASETS.build(cfg.train_dataloader.dataset)
    captioned = [bool(scarce[i]['data_samples']['captioned']) for i in range(len(scarce))]
    # 8 scenes of each of 8 shapes: 10 % rounds up to one captioned scene per shape
    assert sum(captioned) == 8
    assert cfg.model.distiller.losses.loss_fd.inputs.text_mask == 'batch.captioned'
