"""configs/experiments/fashion_mnist_clip_pretrained_towers.py at a tiny budget (1 epoch of 64
Fashion-MNIST images): the CLIP student alone and taught by MiniLM's sentence embeddings and
EfficientNet-Lite0's ImageNet features, both read from one teacher-output cache that the first
distilled run writes and the others reuse; the cached recordings equal the live teachers'."""
import os.path as osp

import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import init_default_scope

from conftest import REPO, run_reduced_experiment
from mmkd.distill.cache import TeacherCache
from mmkd.engine.experiment import read_scalars
from mmkd.registry import DATASETS, MODELS

EXPERIMENT = osp.join(REPO, 'configs', 'experiments', 'fashion_mnist_clip_pretrained_towers.py')


def tiny_options(run: dict, cache: str) -> dict:
    options = {'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
               'default_hooks.logger.interval': 1, 'train_dataloader.batch_size': 32,
               'val_dataloader.dataset.num_samples': 16,
               'test_dataloader.dataset.num_samples': 16}
    if Config.fromfile(osp.join(REPO, run['config'])).model.get('teacher_cache'):
        options.update({'model.teacher_cache.path': cache, 'train_dataloader.dataset.path': cache,
                        'train_dataloader.dataset.dataset.num_samples': 64})
    else:
        options['train_dataloader.dataset.num_samples'] = 64
    return options


def test_students_train_and_share_one_cache_of_both_teachers(tmp_path):
    cache = str(tmp_path / 'cache')
    exp, results = run_reduced_experiment(EXPERIMENT, tmp_path,
                                          lambda run: tiny_options(run, cache))
    assert list(results) == [run['name'] for run in exp.runs]
    for result in results.values():
        assert osp.basename(result['checkpoint']) == 'epoch_1.pth'
        assert 0.0 <= result['metrics']['zeroshot/top1'] <= 100.0
    assert len({r['params'] for r in results.values()}) == 1  # teachers, connectors never ship
    losses = {name: {k for x in read_scalars(r['scalars']) for k in x if k.startswith('distill.')}
              for name, r in results.items()}
    assert losses == {'scratch': set(), 'text tower from MiniLM': {'distill.loss_text'},
                      'image tower from EfficientNet': {'distill.loss_image'},
                      'both towers': {'distill.loss_image', 'distill.loss_text'}}

    teacher_cache = TeacherCache(cache)
    assert (teacher_cache.num_augs, teacher_cache.num_samples) == (4, 64)
    # the cached recordings of one draw equal the live teachers' on that draw
    init_default_scope('mmkd')
    cfg = Config.fromfile(osp.join(REPO, 'configs/vlm/two_towers_kd_clip_fmnist.py'))
    cfg.merge_from_dict(tiny_options(dict(config='configs/vlm/two_towers_kd_clip_fmnist.py'),
                                     cache))
    replay = DATASETS.build(cfg.train_dataloader.dataset)
    batch = default_collate([replay[i] for i in range(4)])
    cfg.model.pop('teacher_cache')
    live = MODELS.build(cfg.model).eval()
    live.run_teachers(batch['inputs'], batch['data_samples'])
    cached = teacher_cache.batch_recordings(batch['data_samples'])
    for teacher, recorder in (('effnet', 'feat'), ('minilm', 'embed')):
        got = live.distiller.recorder_groups[teacher].get(recorder, 'test')
        torch.testing.assert_close(cached[teacher][recorder], got, rtol=1e-4, atol=1e-5)
