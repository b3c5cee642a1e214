"""mmkd.pointcloud.datasets against small real files written with open3d in tmp_path."""
import os
import time

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from mmkd.pointcloud.datasets import (ModelNetFolder, PointCloudFolder, SyntheticShapes,
                                      read_mesh)
from mmkd.pointcloud.synthetic_shapes import make_synthetic_sample
from mmkd.registry import DATASETS

o3d = pytest.importorskip('open3d')


def write_mesh(path, kind, size=1.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == 'box':
        mesh = o3d.geometry.TriangleMesh.create_box(size, size * 2, size * 0.5)
    else:
        mesh = o3d.geometry.TriangleMesh.create_sphere(size, 10)
    assert o3d.io.write_triangle_mesh(str(path), mesh, write_ascii=True)


def write_cloud(path, n, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    pts = np.random.default_rng(seed).normal(size=(n, 3))
    if path.suffix == '.npy':
        np.save(path, pts)
    else:
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
        assert o3d.io.write_point_cloud(str(path), pcd)
    return pts


@pytest.fixture
def modelnet(tmp_path):
    root = tmp_path / 'modelnet'
    for split, n in (('train', 3), ('test', 2)):
        for i in range(n):
            write_mesh(root / 'box' / split / f'box_{i:04d}.off', 'box', 1.0 + i)
            write_mesh(root / 'sphere' / split / f'sphere_{i:04d}.off', 'sphere', 1.0 + i)
    write_mesh(root / 'sphere' / 'train' / 'ignored.ply', 'sphere')  # not an .off
    return root


def test_modelnet_folder(modelnet):
    train = ModelNetFolder(str(modelnet), split='train', num_points=128)
    test = ModelNetFolder(str(modelnet), split='test', num_points=128)
    assert train.metainfo == dict(classes=('box', 'sphere'))
    assert len(train) == 6 and len(test) == 4
    assert train.labels == [0, 0, 0, 1, 1, 1]
    item = train[4]
    assert item['inputs'].shape == (128, 3) and item['inputs'].dtype == torch.float32
    assert item['data_samples'] == dict(labels=1, sample_idx=4)
    # normalised to the unit sphere; sphere points lie at equal distance from the centre
    norms = item['inputs'].norm(dim=1)
    assert norms.max().item() == pytest.approx(1.0, abs=1e-5)
    assert norms.min().item() > 0.85  # a coarse (resolution 10) faceted sphere
    # the box is 1 x 2 x 0.5: sampled points are on its surface (some coordinate at a face)
    box = ModelNetFolder(str(modelnet), num_points=64, normalize=False)[0]['inputs'].numpy()
    on_face = (np.isclose(box, 0, atol=1e-5) |
               np.isclose(box, [1.0, 2.0, 0.5], atol=1e-5)).any(1)
    assert on_face.all()
    # deterministic per file, and cached in memory
    again = ModelNetFolder(str(modelnet), split='train', num_points=128)
    assert torch.equal(again[4]['inputs'], item['inputs'])
    assert 4 in train._cache
    assert not torch.equal(train[3]['inputs'], train[4]['inputs'])
    batch = default_collate([train[i] for i in range(4)])
    assert batch['inputs'].shape == (4, 128, 3)
    assert batch['data_samples']['labels'].tolist() == [0, 0, 0, 1]


def test_modelnet_classes_transforms_and_registry(modelnet):
    ds = DATASETS.build(dict(type='ModelNetFolder', root=str(modelnet), split='test',
                             num_points=32, classes=['sphere'],
                             transforms=[dict(type='SamplePoints', num_points=16),
                                         dict(type='Jitter')], preload=True))
    assert ds.metainfo['classes'] == ('sphere',) and ds.labels == [0, 0]
    assert len(ds._cache) == 2  # preloaded
    assert ds[1]['inputs'].shape == (16, 3)
    with pytest.raises(FileNotFoundError, match='chair'):
        ModelNetFolder(str(modelnet), classes=['chair'])


def test_modelnet_errors_name_root_and_file(tmp_path, modelnet):
    empty_root = tmp_path / 'nothing'
    empty_root.mkdir()
    with pytest.raises(FileNotFoundError, match='nothing'):
        ModelNetFolder(str(empty_root))
    (empty_root / 'chair' / 'train').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r'no \.off files in .*nothing'):
        ModelNetFolder(str(empty_root))
    with pytest.raises(FileNotFoundError, match='missing'):
        ModelNetFolder(str(tmp_path / 'missing'))

    corrupt = modelnet / 'box' / 'test' / 'zz_corrupt.off'
    corrupt.write_bytes(os.urandom(300) + b'\x00\xff garbage')
    empty = modelnet / 'sphere' / 'test' / 'zz_empty.off'
    empty.write_bytes(b'')
    ds = ModelNetFolder(str(modelnet), split='test', num_points=32)
    assert len(ds) == 6
    bad = {os.path.basename(ds.files[i]): i for i in range(len(ds))}
    with pytest.raises(ValueError, match='zz_corrupt.off'):
        ds[bad['zz_corrupt.off']]
    with pytest.raises(ValueError, match='zz_empty.off'):
        ds[bad['zz_empty.off']]
    assert ds[0]['inputs'].shape == (32, 3)  # the good files still load


def test_off_header_glued_to_counts(tmp_path):
    """Many ModelNet files start with ``OFF8 6 0`` on one line."""
    path = tmp_path / 'glued.off'
    v = ' '.join(f'{x} {y} {z}\n' for x in (0, 1) for y in (0, 1) for z in (0, 1))
    faces = '4 0 1 3 2\n4 4 6 7 5\n4 0 4 5 1\n4 2 3 7 6\n4 0 2 6 4\n4 1 5 7 3\n'
    path.write_text(f'OFF8 6 0\n{v}{faces}')
    vertices, triangles = read_mesh(str(path))
    assert vertices.shape == (8, 3) and triangles.shape == (12, 3)


def test_point_cloud_folder(tmp_path):
    root = tmp_path / 'clouds'
    written = {}
    for cls, ext, n in (('a', '.ply', 300), ('a', '.pcd', 50), ('b', '.xyz', 200),
                        ('b', '.npy', 400), ('c', '.npy', 100)):
        path = root / cls / f'{cls}{ext}'
        written[path.name] = write_cloud(path, n, seed=len(written))
    (root / 'c' / 'notes.txt').write_text('not a cloud')
    ds = PointCloudFolder(str(root), num_points=128, normalize=False)
    assert ds.metainfo['classes'] == ('a', 'b', 'c')
    assert [os.path.basename(f) for f in ds.files] == ['a.pcd', 'a.ply', 'b.npy', 'b.xyz',
                                                       'c.npy']
    assert ds.labels == [0, 0, 1, 1, 2]
    for i, path in enumerate(ds.files):
        item = ds[i]
        assert item['inputs'].shape == (128, 3)
        assert item['data_samples'] == dict(labels=ds.labels[i], sample_idx=i)
        src = written[os.path.basename(path)]
        # the points come from the file (float32 rounding of the written coordinates)
        dist = np.abs(item['inputs'].numpy()[:, None].astype(np.float64) - src[None]).max(-1)
        assert dist.min(1).max() < 1e-4
        if len(src) >= 128:  # subset without replacement
            assert len(np.unique(item['inputs'].numpy(), axis=0)) == 128
    loader = DataLoader(PointCloudFolder(str(root), num_points=64), batch_size=5,
                        collate_fn=default_collate)
    batch = next(iter(loader))
    assert batch['inputs'].shape == (5, 64, 3)


def test_point_cloud_folder_errors(tmp_path):
    root = tmp_path / 'pc'
    (root / 'a').mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r'no .*files in .*pc'):
        PointCloudFolder(str(root))
    write_cloud(root / 'a' / 'ok.npy', 10, 0)
    (root / 'a' / 'empty.ply').write_bytes(b'')
    (root / 'a' / 'garbage.pcd').write_bytes(os.urandom(200))
    np.save(root / 'a' / 'wrong.npy', np.zeros((5, 2)))
    ds = PointCloudFolder(str(root), num_points=8)
    names = {os.path.basename(f): i for i, f in enumerate(ds.files)}
    for name in ('empty.ply', 'garbage.pcd', 'wrong.npy'):
        with pytest.raises(ValueError, match=name):
            ds[names[name]]
    assert ds[names['ok.npy']]['inputs'].shape == (8, 3)


TINY = dict(num_train_per_class=2, num_test_per_class=1, num_points=256, seed=3,
            progress=False)


def test_synthetic_shapes_deterministic_and_cached(tmp_path):
    a = SyntheticShapes('train', cache_dir=str(tmp_path / 'a'), **TINY)
    b = SyntheticShapes('train', cache_dir=str(tmp_path / 'b'), **TINY)
    assert a.generated and b.generated
    assert os.path.basename(a.cache_file) == os.path.basename(b.cache_file)
    with np.load(a.cache_file) as fa, np.load(b.cache_file) as fb:
        assert fa['points'].tobytes() == fb['points'].tobytes()
        assert fa['labels'].tobytes() == fb['labels'].tobytes()
        assert fa['points'].dtype == np.float32 and fa['points'].shape == (24, 256, 3)
    assert not [f for f in os.listdir(tmp_path / 'a') if f.endswith('.tmp')]

    classes = a.metainfo['classes']
    assert len(classes) >= 10 and len(set(classes)) == len(classes)
    assert len(a) == 2 * len(classes)
    assert np.bincount(a.labels).tolist() == [2] * len(classes)
    item = a[5]
    assert item['inputs'].shape == (256, 3) and item['inputs'].dtype == torch.float32
    assert item['data_samples'] == dict(labels=a.labels[5], sample_idx=5)
    assert item['inputs'].norm(dim=1).max().item() < 1.2

    # reload from the cache: no generation, file untouched
    mtime = os.stat(a.cache_file).st_mtime_ns
    time.sleep(0.01)
    c = SyntheticShapes('train', cache_dir=str(tmp_path / 'a'), **TINY)
    assert not c.generated and c.cache_file == a.cache_file
    assert os.stat(a.cache_file).st_mtime_ns == mtime
    assert np.array_equal(c.points, a.points)

    # other parameters or split -> another cache file with other data
    d = SyntheticShapes('train', cache_dir=str(tmp_path / 'a'), **dict(TINY, seed=4))
    e = SyntheticShapes('train', cache_dir=str(tmp_path / 'a'), **dict(TINY, noise_std=0.02))
    t = SyntheticShapes('test', cache_dir=str(tmp_path / 'a'), **TINY)
    assert d.generated and e.generated and t.generated
    assert len({a.cache_file, d.cache_file, e.cache_file, t.cache_file}) == 4
    assert not np.array_equal(d.points, a.points)
    assert len(t) == len(classes) and t.labels == list(range(len(classes)))
    assert len(os.listdir(tmp_path / 'a')) == 4


def test_synthetic_shapes_options(tmp_path):
    ds = DATASETS.build(dict(type='SyntheticShapes', split='test', cache_dir=None,
                             classes=['sphere', 'capsule'],
                             transforms=[dict(type='RandomRotation', axis='z')], **TINY))
    assert ds.cache_file is None and ds.metainfo['classes'] == ('sphere', 'capsule')
    assert len(ds) == 2 and ds[1]['inputs'].shape == (256, 3)
    with pytest.raises(ValueError, match='dodecahedron'):
        SyntheticShapes(classes=['dodecahedron'], cache_dir=None, **TINY)
    # a truncated cache file is reported by name
    good = SyntheticShapes('test', cache_dir=str(tmp_path), **TINY)
    with open(good.cache_file, 'r+b') as f:
        f.truncate(100)
    with pytest.raises(ValueError, match=os.path.basename(good.cache_file)):
        SyntheticShapes('test', cache_dir=str(tmp_path), **TINY)


def test_synthetic_shapes_val_split_is_held_out():
    """The validation split is new data: not the training or test clouds, and generating it
    leaves those two unchanged (each split has its own generator stream)."""
    options = dict(TINY, cache_dir=None, classes=['box', 'sphere'])
    train, test = SyntheticShapes('train', **options), SyntheticShapes('test', **options)
    val = SyntheticShapes('val', num_val_per_class=3, **options)
    assert len(val) == 6 and val.labels == [0, 1] * 3
    for other in (train, test):
        distances = np.abs(val.points[:, None] - other.points[None]).reshape(
            len(val), len(other), -1).max(-1)
        assert distances.min() > 0.1
    # train and test keep the generator streams they had before 'val' existed
    assert SyntheticShapes.SPLITS[:2] == ('train', 'test')
    sample = make_synthetic_sample('sphere', np.random.default_rng((3, 1, 1)), 256, (0.7, 1.3),
                                   0.01, 0.3)
    assert np.array_equal(test.points[1], sample)
    with pytest.raises(ValueError, match=r"split: expected one of \['train', 'test', 'val'\]"):
        SyntheticShapes('valid', **options)
