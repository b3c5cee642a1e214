"""Fashion-MNIST: the IDX reader and its errors, the splits and label-scarce subsets (on the real
files of Debian's dataset-fashion-mnist, which `make test` installs, and on small IDX files made
here), augmentations that replay, the masked loss and the ResNet classifier."""
import gzip
import os.path as osp
import random
import re
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmkd.classification import FashionMNIST, ResNetClassifier
from mmkd.classification.datasets import shift_image
from mmkd.classification.fashion_mnist import FASHION_MNIST_ROOT, load_fashion_mnist, read_idx
from mmkd.shared.classifier import masked_cross_entropy
from mmkd.shared.label_subsets import HIDDEN_LABEL
from mmkd.distill.cache import augmentation_seed, seeded_rngs


def write_idx(path, array, magic=None, cut=0):
    array = np.asarray(array, dtype=np.uint8)
    magic = magic if magic is not None else (2051 if array.ndim == 3 else 2049)
    header = magic.to_bytes(4, 'big') + b''.join(d.to_bytes(4, 'big') for d in array.shape)
    data = header + array.tobytes()
    with gzip.open(path, 'wb') as f:
        f.write(data[:len(data) - cut])
    return str(path)


def make_root(folder, train_per_class=20, test_per_class=5):
    """A small Fashion-MNIST folder: image i of class c has every pixel = 10 * c + i % 10."""
    for part, per_class in (('train', train_per_class), ('t10k', test_per_class)):
        labels = np.repeat(np.arange(10), per_class)
        images = (10 * labels + np.arange(len(labels)) % 10)[:, None, None] * np.ones((1, 28, 28))
        write_idx(osp.join(folder, f'{part}-images-idx3-ubyte.gz'), images)
        write_idx(osp.join(folder, f'{part}-labels-idx1-ubyte.gz'), labels)
    return str(folder)


# ----------------------------------------------------------------------------- the real files
real = pytest.mark.skipif(
    not osp.isfile(osp.join(FASHION_MNIST_ROOT, 'train-images-idx3-ubyte.gz')),
    reason='dataset-fashion-mnist is not installed (make install does)')


@real
def test_real_files_have_the_published_sizes_and_balance():
    images, labels = load_fashion_mnist('train')
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert Counter(labels.tolist()) == {c: 6000 for c in range(10)}
    test_images, test_labels = load_fashion_mnist('test')
    assert test_images.shape == (10000, 28, 28)
    assert Counter(test_labels.tolist()) == {c: 1000 for c in range(10)}
    assert images.max() == 255 and images.min() == 0


@real
def test_real_splits_are_disjoint_stratified_and_labelled_fractions_hide_labels():
    train, val = FashionMNIST('train'), FashionMNIST('val')
    assert (len(train), len(val), len(FashionMNIST('test'))) == (55000, 5000, 10000)
    assert Counter(val.true_labels.tolist()) == {c: 500 for c in range(10)}
    # the validation images are not among the training images (compare raw bytes)
    train_rows = {bytes(x) for x in train.images.flatten(1).numpy()}
    assert not any(bytes(x) in train_rows for x in val.images[:200].flatten(1).numpy())
    scarce = FashionMNIST('train', labelled_fraction=0.01)
    assert scarce.num_labelled == 550
    labelled = scarce.labels != HIDDEN_LABEL
    assert Counter(scarce.labels[labelled].tolist()) == {c: 55 for c in range(10)}
    assert torch.equal(scarce.labels[labelled], scarce.true_labels[labelled])
    assert torch.equal(scarce.true_labels, train.true_labels)    # kept for evaluation
    only = FashionMNIST('train', labelled_fraction=0.01, subset='labelled')
    assert len(only) == 550 and (only.labels >= 0).all()
    assert len(FashionMNIST('train', labelled_fraction=0.01, subset='unlabelled')) == 54450


# ----------------------------------------------------------------------------- small files
def test_small_root_splits_sizes_and_pixels(tmp_path):
    root = make_root(tmp_path)
    train = FashionMNIST('train', root=root, val_size=50)
    val = FashionMNIST('val', root=root, val_size=50)
    test = FashionMNIST('test', root=root)
    assert (len(train), len(val), len(test)) == (150, 50, 50)
    assert Counter(val.true_labels.tolist()) == {c: 5 for c in range(10)}
    item = test[13]                      # class 2, pixel value 10 * 2 + 13 % 10 = 23
    assert item['inputs'].shape == (1, 28, 28) and item['inputs'].dtype == torch.float32
    assert torch.allclose(item['inputs'], torch.full((1, 28, 28), 23 / 255))
    assert int(item['data_samples']['labels']) == 2 and item['data_samples']['sample_idx'] == 13
    assert train.metainfo['classes'][0] == 'T-shirt/top'


def test_labelled_subsets_depend_on_their_seed_only(tmp_path):
    root = make_root(tmp_path, train_per_class=100)
    a = FashionMNIST('train', root=root, val_size=100, labelled_fraction=0.1, labelled_seed=0)
    b = FashionMNIST('train', root=root, val_size=100, labelled_fraction=0.1, labelled_seed=0)
    c = FashionMNIST('train', root=root, val_size=100, labelled_fraction=0.1, labelled_seed=1)
    assert torch.equal(a.labels, b.labels) and not torch.equal(a.labels, c.labels)
    assert a.num_labelled == 90 and Counter(a.labels[a.labels >= 0].tolist()) == {
        k: 9 for k in range(10)}
    # another validation seed moves the validation images
    v0 = FashionMNIST('val', root=root, val_size=100, split_seed=0).images
    v1 = FashionMNIST('val', root=root, val_size=100, split_seed=1).images
    assert not torch.equal(v0, v1)


def test_translation_equals_shift_image_and_flip_mirrors(tmp_path):
    root = make_root(tmp_path)
    write_idx(osp.join(root, 't10k-images-idx3-ubyte.gz'),
              np.random.default_rng(0).integers(0, 256, (50, 28, 28)))
    plain = FashionMNIST('test', root=root)
    shifted = FashionMNIST('test', root=root, crop_padding=3)
    flipped = FashionMNIST('test', root=root, flip=True)
    for seed in range(6):
        torch.manual_seed(seed)
        dy, dx = torch.randint(-3, 4, (2,)).tolist()
        torch.manual_seed(seed)
        assert torch.equal(shifted[5]['inputs'], shift_image(plain[5]['inputs'], dy, dx))
        torch.manual_seed(seed)
        mirror = bool(torch.rand(()) < 0.5)
        torch.manual_seed(seed)
        expected = plain[5]['inputs'].flip(-1) if mirror else plain[5]['inputs']
        assert torch.equal(flipped[5]['inputs'], expected)


def test_augmentations_replay_under_the_cache_seeds(tmp_path):
    root = make_root(tmp_path)
    write_idx(osp.join(root, 'train-images-idx3-ubyte.gz'),          # unequal images
              np.random.default_rng(0).integers(0, 256, (200, 28, 28)))
    ds = FashionMNIST('train', root=root, val_size=50, crop_padding=4, flip=True,
                      mix='mixup_cutmix')
    assert ds.replay_rngs == ('torch',)
    draws = []
    for _ in range(2):
        with seeded_rngs(augmentation_seed(0, 7, 3), ds.replay_rngs):
            draws.append(ds[7]['inputs'])
            np.random.rand(), random.random()        # other RNGs do not change the draw
    assert torch.equal(draws[0], draws[1])
    with seeded_rngs(augmentation_seed(0, 7, 4), ds.replay_rngs):
        assert not torch.equal(ds[7]['inputs'], draws[0])
    assert 0 <= draws[0].min() and draws[0].max() <= 1


def test_mixup_is_a_convex_combination_and_cutmix_pastes_a_box(tmp_path):
    root = make_root(tmp_path)
    mixup = FashionMNIST('test', root=root, mix='mixup')
    values = set()
    torch.manual_seed(0)
    for _ in range(20):
        image = mixup[0]['inputs']        # class 0 image: every pixel 0 / 255
        assert torch.allclose(image, image.flatten()[0].expand_as(image))   # uniform images mix
        values.add(round(float(image.flatten()[0]), 4))
    assert len(values) > 1
    cutmix = FashionMNIST('test', root=root, mix='cutmix')
    torch.manual_seed(1)
    image = cutmix[0]['inputs']
    pasted = image != 0
    rows, cols = pasted.any(-1).squeeze(0), pasted.any(-2).squeeze(0)
    assert int(pasted.sum()) == int(rows.sum()) * int(cols.sum())            # one rectangle


@pytest.mark.parametrize('kwargs, match', [
    (dict(split='nope'), r"split: expected 'train', 'val' or 'test'"),
    (dict(subset='some'), r"subset: expected 'all', 'labelled' or 'unlabelled'"),
    (dict(mix='blend'), r"mix: expected None, 'mixup'"),
    (dict(split='val', labelled_fraction=0.1), r'only the train split is label-scarce'),
    (dict(val_size=0), r'val_size: expected 1\.\.'),
    (dict(num_samples=10 ** 6), r'num_samples: expected 1\.\.'),
])
def test_bad_arguments_are_named(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        FashionMNIST(root=make_root(tmp_path), val_size=kwargs.pop('val_size', 50), **kwargs)


def test_missing_file_names_its_path_and_the_install_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'train-images-idx3-ubyte\.gz.*does not exist; '
                                                r'install it with `apt-get install '
                                                r'dataset-fashion-mnist`'):
        FashionMNIST(root=str(tmp_path))


@pytest.mark.parametrize('damage, match', [
    ('magic', r'IDX magic number 2049, expected 2051'),
    ('cut', r'bytes, expected 7856 for its header shape \(10, 28, 28\) \(truncated'),
    ('header', r'shorter than its 16-byte IDX header'),
    ('not gzip', r'is not a whole gzip file'),
])
def test_corrupt_files_are_named(tmp_path, damage, match):
    path = tmp_path / 'images.gz'
    images = np.zeros((10, 28, 28))
    if damage == 'magic':
        write_idx(path, images, magic=2049)
    elif damage == 'cut':
        write_idx(path, images, cut=100)
    elif damage == 'header':
        with gzip.open(path, 'wb') as f:
            f.write(b'\x00\x00\x08\x03\x00')
    else:
        path.write_bytes(b'random bytes, not gzip')
    with pytest.raises(ValueError, match=re.escape(str(path)) + '.*' + match):
        read_idx(str(path), 2051)


def test_images_and_labels_of_different_lengths_are_refused(tmp_path):
    root = make_root(tmp_path)
    write_idx(osp.join(root, 't10k-labels-idx1-ubyte.gz'), np.zeros(7))
    with pytest.raises(ValueError, match=r'holds 50 images but .*t10k-labels.* 7 labels'):
        load_fashion_mnist('test', root)


# ----------------------------------------------------------------------------- models and loss
def test_masked_cross_entropy_skips_hidden_labels():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 10), torch.tensor([3, -1, 0, -1, -1, 9])
    known = labels >= 0
    expected = F.cross_entropy(logits[known], labels[known])
    assert torch.allclose(masked_cross_entropy(logits, labels), expected)
    full = torch.tensor([3, 1, 0, 2, 5, 9])
    assert torch.equal(masked_cross_entropy(logits, full), F.cross_entropy(logits, full))
    none = masked_cross_entropy(logits.requires_grad_(), torch.full((6,), -1))
    assert float(none.detach()) == 0.0
    none.backward()
    assert torch.count_nonzero(logits.grad) == 0


def test_resnet_classifier_shapes_params_and_recordable_names():
    model = ResNetClassifier(channels=(16, 64, 128, 256), blocks=1)
    assert 1_000_000 <= sum(p.numel() for p in model.parameters()) <= 3_000_000
    names = dict(model.named_modules())
    for name in ('backbone.stage1', 'backbone.stage4', 'pool', 'head'):
        assert name in names
    x = torch.randn(2, 1, 28, 28)
    maps = []
    hooks = [names[f'backbone.stage{i}'].register_forward_hook(
        lambda m, i, o: maps.append(tuple(o.shape))) for i in range(1, 5)]
    assert model(x).shape == (2, 10)
    for hook in hooks:
        hook.remove()
    assert maps == [(2, 16, 28, 28), (2, 64, 14, 14), (2, 128, 7, 7), (2, 256, 4, 4)]
    losses = model(x, dict(labels=torch.tensor([1, -1])), mode='loss')
    assert torch.allclose(losses['loss_cls'], F.cross_entropy(model(x)[:1], torch.tensor([1])))
    with pytest.raises(ValueError, match=r'blocks: expected one count >= 1 per stage'):
        ResNetClassifier(channels=(8, 16), blocks=(1, 0))
