"""The teacher-output cache: key mismatches name what differs, truncated or corrupt shards name
the file, replayed augmentations equal what the teacher saw, the distillation losses from the
cache equal the live teacher's (digits, point clouds, CLIP), and a real MMEngine run trains from
the cache without building the teacher."""
import json
import os
import os.path as osp
import runpy
import shutil
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate

from conftest import REPO
from mmkd.distill.cache import (TeacherCache, TeacherCacheDataset, TeacherCacheError,
                                TeacherCacheMismatchError, seeded_rngs, write_teacher_cache)
from mmkd.distill.cache.writer import _RecordingSplitter
from mmkd.distill.teacher import TeacherSpec
from mmkd.engine.runner import load_config, train
from mmkd.registry import MODELS

NUM_SAMPLES, NUM_AUGS = 40, 3
# FitNets + KD, plus the teacher's input images so that a test can compare them with the replay
FITNET_DISTILLER = dict(
    recorders=dict(student=dict(feat='backbone'),
                   teacher=dict(hint='backbone.stage2',
                                input=dict(source='backbone', kind='input'))),
    connectors=dict(feat_s=dict(type='ConvConnector', in_channels=8, out_channels=64)),
    losses=dict(loss_fitnet=dict(type='FeatureMSELoss', inputs=dict(
        student_feats=dict(source='student.feat', connector='feat_s'),
        teacher_feats='teacher.hint'))))


def save_random_teacher(path, seed=0, **cfg):
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    torch.save({'state_dict': model.state_dict()}, path)
    return str(path)


@pytest.fixture(scope='module')
def digits(tmp_path_factory):
    """configs/digits/kd_cnn_digits_cached.py with FitNets added and a random-init teacher, on a
    small training set, and its cache written by tools/cache_teacher.py in small shards."""
    root = tmp_path_factory.mktemp('digits_cache')
    checkpoint = save_random_teacher(root / 'teacher.pth', type='ConvClassifier',
                                     channels=(32, 64, 128), convs_per_stage=2)
    cache_dir = str(root / 'cache')
    config = root / 'kd_fitnet_cnn_digits_cached.py'
    config.write_text(f"""
_base_ = [{osp.join(REPO, 'configs/digits/kd_cnn_digits_cached.py')!r}]
model = dict(teachers=dict(teacher=dict(checkpoint={checkpoint!r})),
             teacher_cache=dict(path={cache_dir!r}), distiller={FITNET_DISTILLER!r})
train_dataloader = dict(batch_size=16, dataset=dict(
    path={cache_dir!r}, num_augs={NUM_AUGS}, dataset=dict(num_samples={NUM_SAMPLES})))
""")
    argv = sys.argv
    sys.argv = ['tools/cache_teacher.py', str(config), '--shard-size-mb', '0.03']
    try:
        runpy.run_path(osp.join(REPO, 'tools/cache_teacher.py'), run_name='__main__')
    finally:
        sys.argv = argv
    return dict(config=str(config), cfg=load_config(str(config)), cache_dir=cache_dir,
                checkpoint=checkpoint)


def digits_cfg(digits, **options) -> Config:
    return load_config(digits['config'], cfg_options=options)


def dataset_kwargs(cfg) -> dict:
    return {k: v for k, v in cfg.train_dataloader.dataset.items() if k != 'type'}


def live_model_cfg(cfg):
    model = cfg.model.copy()
    model.pop('teacher_cache')
    return model


def live_and_cached_losses(live_cfg, cached_cfg, dataset, indices):
    """The losses of the live-teacher and the cached-teacher algorithm (same student and
    connector weights) on one batch of replayed augmentations."""
    live, cached = MODELS.build(live_cfg), MODELS.build(cached_cfg)
    missing, unexpected = cached.load_state_dict(live.state_dict(), strict=False)
    assert not missing and all(k.startswith('teachers.') for k in unexpected)
    data = live.data_preprocessor(default_collate([dataset[i] for i in indices]), True)
    losses = []
    for model in (live, cached):
        torch.manual_seed(0)  # the same student dropout
        losses.append(model.loss(**data))
    return (*losses, cached)


def assert_same_distill_losses(live, cached):
    distill_keys = [k for k in live if k.startswith('distill.')]
    assert distill_keys and set(live) == set(cached)
    for key in live:
        torch.testing.assert_close(cached[key], live[key], rtol=1e-5, atol=1e-6, msg=key)


# ------------------------------------------------------------------------------ the files
def test_manifest_and_shards(digits):
    with open(osp.join(digits['cache_dir'], 'manifest.json')) as f:
        manifest = json.load(f)
    assert manifest['num_samples'] == NUM_SAMPLES and manifest['num_augs'] == NUM_AUGS
    assert len(manifest['shards']) > 1  # small shards: several, each of whole samples
    assert manifest['shards'][0]['start'] == 0 and manifest['shards'][-1]['stop'] == NUM_SAMPLES
    assert manifest['recordings'] == {
        'teacher.hint': dict(kind='per_sample', rows=1, shape=[64, 4, 4], dtype='float32'),
        'teacher.input': dict(kind='per_sample', rows=1, shape=[1, 8, 8], dtype='float32'),
        'teacher.logits': dict(kind='per_sample', rows=1, shape=[10], dtype='float32')}
    assert not [f for f in os.listdir(digits['cache_dir']) if f.endswith('.tmp')]


def test_replayed_augmentation_equals_what_the_teacher_saw(digits):
    dataset = TeacherCacheDataset(**dataset_kwargs(digits['cfg']))
    seen = set()
    torch.manual_seed(123)
    for _ in range(3):
        for index in range(NUM_SAMPLES):
            item = dataset[index]
            aug = item['data_samples']['aug_idx']
            seen.add((index, aug))
            fed_to_teacher = item['data_samples']['teacher_outputs']['teacher.input']
            assert torch.equal(item['inputs'], fed_to_teacher[0]), (index, aug)
    assert len({aug for _, aug in seen}) == NUM_AUGS
    # a replay does not depend on the global RNG, and the augmentations of a sample differ
    torch.manual_seed(7)
    first = [dataset.replay.item(5, a)['inputs'] for a in range(NUM_AUGS)]
    torch.manual_seed(8)
    again = [dataset.replay.item(5, a)['inputs'] for a in range(NUM_AUGS)]
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    assert any(not torch.equal(dataset.replay.item(i, 0)['inputs'],
                               dataset.replay.item(i, 1)['inputs']) for i in range(NUM_SAMPLES))


def test_digits_losses_from_cache_equal_the_live_teacher(digits):
    cfg = digits['cfg']
    dataset = TeacherCacheDataset(**dataset_kwargs(cfg))
    live, cached, model = live_and_cached_losses(live_model_cfg(cfg), cfg.model, dataset,
                                                 range(0, NUM_SAMPLES, 3))
    assert {'distill.loss_kd', 'distill.loss_fitnet'} <= set(live)
    assert_same_distill_losses(live, cached)
    assert len(model.teachers) == 0


# ------------------------------------------------------------------------------ the key
def test_changed_checkpoint_is_an_error_naming_it(digits, tmp_path):
    other = save_random_teacher(tmp_path / 'other.pth', seed=1, type='ConvClassifier',
                                channels=(32, 64, 128), convs_per_stage=2)
    cfg = digits_cfg(digits, **{'model.teachers.teacher.checkpoint': other})
    with pytest.raises(TeacherCacheMismatchError,
                       match=r'model.teacher_cache: .*\n  teachers.teacher.checkpoint_sha256: '):
        MODELS.build(cfg.model)


def test_changed_recorder_is_an_error_naming_it(digits):
    cfg = digits_cfg(digits, **{'model.distiller.recorders.teacher.hint': 'backbone.stage1'})
    with pytest.raises(TeacherCacheMismatchError,
                       match=r"recorders.teacher.hint: cache \"backbone.stage2\" vs config "
                             r"\"backbone.stage1\""):
        MODELS.build(cfg.model)


def test_changed_transform_parameter_or_k_is_an_error_naming_it(digits):
    dataset_cfg = dataset_kwargs(digits['cfg'])
    with pytest.raises(TeacherCacheMismatchError,
                       match=r'train_dataloader.dataset: .*\n  dataset.max_shift: cache 1 vs '
                             r'config 2'):
        TeacherCacheDataset(**dict(dataset_cfg, dataset=dict(dataset_cfg['dataset'],
                                                             max_shift=2)))
    with pytest.raises(TeacherCacheMismatchError, match=r'num_augs: cache 3 vs config 4'):
        TeacherCacheDataset(**dict(dataset_cfg, num_augs=4))
    with pytest.raises(TeacherCacheMismatchError, match=r'seed: cache 0 vs config 1'):
        TeacherCacheDataset(**dict(dataset_cfg, seed=1))


def test_uncacheable_teachers_are_refused(digits):
    cfg = digits_cfg(digits, **{'model.teachers.teacher.mode': 'train'})
    with pytest.raises(ValueError, match=r"model.teachers.teacher.mode: a cached teacher must "
                                         r"run in 'eval' mode"):
        MODELS.build(cfg.model)


def test_recordings_that_are_neither_per_sample_nor_constant_are_refused():
    splitter = _RecordingSplitter()
    rows = splitter.split({'teacher.logits': torch.ones(4, 10), 'teacher.scale': torch.tensor(2.),
                           'teacher.batch': torch.arange(4).repeat_interleave(3)}, num_items=4)
    assert set(rows) == {'teacher.logits'} and rows['teacher.logits'].shape == (4, 1, 10)
    assert splitter.layouts['teacher.batch'] == dict(kind='batch_index', rows=3, dtype='int64')
    with pytest.raises(ValueError, match=r'teacher.scale: recorded as .*shared.* in the first '
                                         r'batch .* the same in every batch, can be cached'):
        splitter.split({'teacher.logits': torch.ones(4, 10), 'teacher.scale': torch.tensor(3.),
                        'teacher.batch': torch.arange(4).repeat_interleave(3)}, num_items=4)
    with pytest.raises(TypeError, match=r'teacher.pair: the recorder holds a tuple; only tensors'):
        _RecordingSplitter().split({'teacher.pair': (torch.ones(2),)}, num_items=2)


# ------------------------------------------------------------------------------ damaged files
def test_truncated_corrupt_or_unfinished_cache_errors_name_the_file(digits, tmp_path):
    copy = tmp_path / 'cache'
    shutil.copytree(digits['cache_dir'], copy)
    shard = copy / 'shard_00001.safetensors'
    data = shard.read_bytes()
    shard.write_bytes(data[:-7])
    with pytest.raises(TeacherCacheError, match=rf"{shard}' is {len(data) - 7} bytes, the "
                                                rf'manifest says {len(data)}: truncated'):
        TeacherCache(str(copy))
    # same size, flipped bytes: found when the shard is first read
    shard.write_bytes(data[:-4] + bytes(b ^ 0xFF for b in data[-4:]))
    cache = TeacherCache(str(copy))
    cache.sample_outputs(0, 0)  # shard 0 is intact
    last = cache.shards[1]['start']
    with pytest.raises(TeacherCacheError, match=rf"{shard}' is corrupt"):
        cache.sample_outputs(last, 0)
    (copy / 'manifest.json').unlink()
    with pytest.raises(TeacherCacheError, match=r'has no manifest.json .* tools/cache_teacher.py'):
        TeacherCache(str(copy))


# ------------------------------------------------------------------------------ a real run
def test_mmengine_run_from_the_cache_never_builds_the_teacher(digits, tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError('a teacher was built in a cached run')

    monkeypatch.setattr(TeacherSpec, 'build', refuse)
    runner = train(digits['config'], work_dir=str(tmp_path / 'run'),
                   cfg_options={'train_cfg.max_epochs': 1})
    assert runner.iter == 3 and len(runner.model.teachers) == 0
    for key in ('distill.loss_kd', 'distill.loss_fitnet'):
        assert runner.message_hub.get_scalar(f'train/{key}').current() > 0


# ------------------------------------------------------------------------------ point clouds
def test_point_cloud_losses_from_cache_equal_the_live_teacher(tmp_path):
    """PointNet per-point features ([B * N, C], N rows per cloud), coordinates and PyG batch
    vectors (rebuilt per batch), with random sampling, rotation and jitter replayed."""
    checkpoint = save_random_teacher(tmp_path / 'pointnet.pth', type='PointNetClassifier',
                                     num_classes=12)
    cfg = load_config(osp.join(REPO, 'configs/pointcloud/pointfeat_pointnet_shapes.py'),
                      cfg_options={'model.teachers.teacher.checkpoint': checkpoint,
                                   'train_dataloader.batch_size': 4})
    cfg.train_dataloader.dataset = dict(
        type='SyntheticShapes', split='train', num_train_per_class=2, num_points=48,
        classes=['box', 'sphere', 'cylinder'], cache_dir=None, progress=False,
        transforms=[dict(type='SamplePoints', num_points=32), dict(type='RandomRotation'),
                    dict(type='Jitter', sigma=0.01, clip=0.05)])
    cache_dir = str(tmp_path / 'cache')
    write_teacher_cache(cfg, cache_dir, num_augs=2, progress=False)
    cache = TeacherCache(cache_dir)
    assert cache.recordings['teacher.batch'] == dict(kind='batch_index', rows=32, dtype='int64')
    assert cache.recordings['teacher.feat']['rows'] == 32
    dataset = TeacherCacheDataset(cfg.train_dataloader.dataset, cache_dir, num_augs=2, seed=0)
    item = dataset[4]
    torch.testing.assert_close(item['data_samples']['teacher_outputs']['teacher.pos'],
                               item['inputs'], rtol=0, atol=0)
    live, cached, _ = live_and_cached_losses(
        cfg.model, dict(cfg.model, teacher_cache=dict(path=cache_dir)), dataset, [5, 0, 3])
    assert {'distill.loss_point', 'distill.loss_kd'} <= set(live)
    assert_same_distill_losses(live, cached)


# ------------------------------------------------------------------------------ CLIP
def test_clip_losses_from_cache_equal_the_live_teacher(tmp_path):
    """CLIP-KD (CRD + ICL + FD) from image and text embeddings (per sample) and the teacher's
    logit scale (the same in every batch: stored once)."""
    teacher_clip = dict(
        embed_dim=128,
        vision_cfg=dict(image_size=48, layers=1, width=64, patch_size=16, head_width=32),
        text_cfg=dict(context_length=32, vocab_size=49408, width=64, heads=2, layers=1))
    checkpoint = save_random_teacher(tmp_path / 'clip.pth', type='OpenCLIPModel',
                                     model_cfg=teacher_clip)
    cfg = load_config(osp.join(REPO, 'configs/vlm/clipkd_clip_scenes.py'), cfg_options={
        'model.teachers.teacher.checkpoint': checkpoint, 'train_dataloader.batch_size': 4})
    cfg.model.teachers.teacher.model.model_cfg = teacher_clip
    cfg.train_dataloader.dataset = dict(type='SyntheticCaptionedScenes', split='train',
                                        num_train=8, num_test=4, image_size=48, cache_dir=None,
                                        progress=False)
    cache_dir = str(tmp_path / 'cache')
    write_teacher_cache(cfg, cache_dir, num_augs=1, progress=False)
    assert TeacherCache(cache_dir).recordings['teacher.scale']['kind'] == 'shared'
    dataset = TeacherCacheDataset(cfg.train_dataloader.dataset, cache_dir, num_augs=1, seed=0)
    live, cached, _ = live_and_cached_losses(
        cfg.model, dict(cfg.model, teacher_cache=dict(path=cache_dir)), dataset, [6, 1, 2, 7, 0])
    assert {'distill.loss_crd', 'distill.loss_icl', 'distill.loss_fd'} <= set(live)
    assert_same_distill_losses(live, cached)


def test_reuse_keeps_a_cache_of_this_config_and_rewrites_a_stale_one(digits, tmp_path):
    cache_dir = str(tmp_path / 'cache')
    cfg = digits_cfg(digits, **{'model.teacher_cache.path': cache_dir,
                                'train_dataloader.dataset.path': cache_dir})
    assert write_teacher_cache(cfg, progress=False, reuse=True) == cache_dir
    manifest = osp.join(cache_dir, 'manifest.json')
    written = os.stat(manifest).st_mtime_ns
    write_teacher_cache(cfg, progress=False, reuse=True)
    assert os.stat(manifest).st_mtime_ns == written                   # kept as it was
    other = save_random_teacher(tmp_path / 'other.pth', seed=1, type='ConvClassifier',
                                channels=(32, 64, 128), convs_per_stage=2)
    cfg.model.teachers.teacher.checkpoint = other
    write_teacher_cache(cfg, progress=False, reuse=True)
    with open(manifest) as f:                                         # rewritten for the new one
        assert json.load(f)['info']['checkpoints']['teacher'] == other
    os.remove(osp.join(cache_dir, 'shard_00000.safetensors'))         # an incomplete cache
    write_teacher_cache(cfg, progress=False, reuse=True)
    TeacherCache(cache_dir).sample_outputs(0, 0)


def test_seeded_rngs_seed_and_restore_only_the_named_generators():
    import random

    import numpy as np
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    after = (torch.rand(()), np.random.rand(), random.random())
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    with seeded_rngs(123, ('torch',)):
        inside_torch = torch.rand(())
        inside_numpy = np.random.rand()                  # numpy is not seeded: it moves on
    assert inside_numpy == after[1]
    assert (torch.rand(()), random.random()) == (after[0], after[2])   # torch restored
    with seeded_rngs(123, ('torch',)):
        assert torch.rand(()) == inside_torch
    with pytest.raises(ValueError, match=r"rngs: expected names among .*got \['jax'\]"):
        with seeded_rngs(0, ('torch', 'jax')):
            pass
