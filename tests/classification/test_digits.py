"""The digits experiment's pieces: DigitsDataset, shift_image, Accuracy and ConvClassifier."""
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmkd.classification import Accuracy, ConvClassifier, DigitsDataset
from mmkd.classification.datasets import shift_image
from mmkd.shared.classifier import predictions
from mmkd.registry import DATASETS, METRICS, MODELS


@pytest.fixture(scope='module')
def splits():
    return DigitsDataset('train'), DigitsDataset('test')


def test_split_sizes_values_and_types(splits):
    train, test = splits
    assert (len(train), len(test)) == (1257, 540)
    assert len(train) + len(test) == 1797
    for ds in splits:
        assert ds.images.shape[1:] == (1, 8, 8) and ds.images.dtype == torch.float32
        assert ds.images.min() >= 0 and ds.images.max() <= 1
        assert ds.images.max() == 1.0                      # 16 / 16
        assert ds.labels.dtype == torch.long
    item = test[3]
    assert item['inputs'].shape == (1, 8, 8)
    assert item['data_samples']['sample_idx'] == 3
    assert int(item['data_samples']['labels']) == int(test.labels[3])
    assert train.metainfo['classes'] == tuple('0123456789')


def test_splits_partition_the_dataset(splits):
    from sklearn.datasets import load_digits
    digits = load_digits()
    train, test = splits

    def rows(images, labels):
        flat = np.concatenate([images.reshape(len(images), -1), labels[:, None]], axis=1)
        return sorted(map(tuple, flat.tolist()))

    together = rows(np.concatenate([train.images.numpy(), test.images.numpy()]),
                    np.concatenate([train.labels.numpy(), test.labels.numpy()]))
    # The union of the splits is exactly the dataset (as a multiset of (image, label)).
    assert together == rows((digits.images / 16.0).astype(np.float32), digits.target)
    # Disjoint: no test image appears in the training split (beyond exact duplicates that the
    # raw data itself contains).
    raw = Counter(map(tuple, (digits.images / 16.0).astype(np.float32).reshape(1797, -1)
                      .tolist()))
    train_set = Counter(map(tuple, train.images.numpy().reshape(len(train), -1).tolist()))
    test_set = Counter(map(tuple, test.images.numpy().reshape(len(test), -1).tolist()))
    for image in set(train_set) & set(test_set):
        assert train_set[image] + test_set[image] <= raw[image]


def test_splits_are_stratified(splits):
    from sklearn.datasets import load_digits
    totals = Counter(load_digits().target.tolist())
    train, test = splits
    test_counts = Counter(test.labels.tolist())
    train_counts = Counter(train.labels.tolist())
    for c in range(10):
        assert train_counts[c] + test_counts[c] == totals[c]
        assert abs(test_counts[c] - 0.3 * totals[c]) <= 1


def test_deterministic_and_seeded(splits):
    train, _ = splits
    again = DigitsDataset('train')
    assert torch.equal(train.images, again.images) and torch.equal(train.labels, again.labels)
    other = DigitsDataset('train', seed=1)
    assert not torch.equal(train.labels, other.labels)
    assert len(DigitsDataset('test', test_fraction=0.5)) == 899


def test_num_samples_keeps_the_first_images(splits):
    train, _ = splits
    small = DigitsDataset('train', num_samples=128)
    assert len(small) == 128
    assert torch.equal(small.images, train.images[:128])
    assert torch.equal(small.labels, train.labels[:128])
    for bad in (0, -1, 1258):
        with pytest.raises(ValueError, match=rf'num_samples: expected 1\.\.1257 for the train '
                                             rf'split, got {bad}'):
            DigitsDataset('train', num_samples=bad)
    with pytest.raises(ValueError, match=r"split: expected 'train' or 'test', got 'val'"):
        DigitsDataset('val')


def test_random_shift_augmentation():
    plain = DigitsDataset('test', num_samples=20)
    shifted = DigitsDataset('test', num_samples=20, max_shift=1)
    torch.manual_seed(0)
    first = [shifted[i]['inputs'] for i in range(20)]
    torch.manual_seed(0)
    second = [shifted[i]['inputs'] for i in range(20)]
    assert all(torch.equal(a, b) for a, b in zip(first, second))          # seeded
    assert any(not torch.equal(a, plain[i]['inputs']) for i, a in enumerate(first))
    # Each augmented image is one of the 9 shifts of the original.
    for i, image in enumerate(first):
        candidates = [shift_image(plain.images[i], dy, dx)
                      for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        assert any(torch.equal(image, c) for c in candidates)


def test_shift_image_known_values():
    image = torch.arange(1, 10, dtype=torch.float32).reshape(1, 3, 3)
    # [[1 2 3], [4 5 6], [7 8 9]] moved one row down and one column left, zeros filled in.
    expected = torch.tensor([[[0., 0., 0.], [2., 3., 0.], [5., 6., 0.]]])
    assert torch.equal(shift_image(image, 1, -1), expected)
    assert torch.equal(shift_image(image, -1, 1),
                       torch.tensor([[[0., 4., 5.], [0., 7., 8.], [0., 0., 0.]]]))
    assert torch.equal(shift_image(image, 0, 0), image)
    assert torch.equal(shift_image(image, 3, 0), torch.zeros_like(image))
    assert shift_image(image, 1, 1).shape == image.shape


def test_registry_builds():
    ds = DATASETS.build(dict(type='DigitsDataset', split='test', num_samples=10))
    assert isinstance(ds, DigitsDataset) and len(ds) == 10
    assert isinstance(METRICS.build(dict(type='Accuracy', topk=(1, 5))), Accuracy)


def scores_for(order):
    """A score vector over 6 classes ranking ``order`` from best to worst."""
    s = torch.zeros(6)
    for rank, c in enumerate(order):
        s[c] = 6 - rank
    return s.softmax(0)


def test_accuracy_known_case():
    samples = [
        dict(scores=scores_for([0, 1, 2, 3, 4, 5]), gt_label=torch.tensor(0)),   # right
        dict(scores=scores_for([0, 2, 1, 3, 4, 5]), gt_label=torch.tensor(0)),   # right
        dict(scores=scores_for([0, 5, 2, 3, 4, 1]), gt_label=torch.tensor(0)),   # right
        dict(scores=scores_for([0, 2, 3, 4, 5, 1]), gt_label=torch.tensor(1)),   # 1 ranked 6th
        dict(scores=scores_for([3, 2, 0, 1, 4, 5]), gt_label=torch.tensor(2)),   # 2 ranked 2nd
    ]
    metric = Accuracy(topk=(1, 5))
    metric.process(None, samples)
    result = metric.evaluate(len(samples))
    assert set(result) == {'accuracy/top1', 'accuracy/top5', 'accuracy/mean_class'}
    assert result['accuracy/top1'] == pytest.approx(60.0)         # 3 of 5
    assert result['accuracy/top5'] == pytest.approx(80.0)         # all but the 6th-ranked one
    # Classes 0 (3/3), 1 (0/1), 2 (0/1): mean of per-class recalls = 100/3, not 60.
    assert result['accuracy/mean_class'] == pytest.approx(100.0 / 3)


def test_accuracy_needs_gt_label():
    metric = Accuracy()
    with pytest.raises(KeyError, match="Accuracy: a prediction has no gt_label"):
        metric.process(None, [dict(scores=torch.ones(3))])


def test_accuracy_from_classifier_predictions():
    torch.manual_seed(0)
    model = ConvClassifier(channels=(4, 8))
    model.eval()
    x = torch.rand(12, 1, 8, 8)
    labels = torch.arange(12) % 10
    with torch.no_grad():
        preds = model(x, dict(labels=labels), mode='predict')
        logits = model(x)
    metric = Accuracy(topk=(1, 3))
    metric.process(None, preds)
    result = metric.evaluate(12)
    expected_top1 = 100.0 * (logits.argmax(1) == labels).float().mean().item()
    assert result['accuracy/top1'] == pytest.approx(expected_top1)
    top3 = logits.topk(3, dim=1).indices
    assert result['accuracy/top3'] == pytest.approx(
        100.0 * (top3 == labels[:, None]).any(1).float().mean().item())


def test_conv_classifier_shapes_and_modes():
    torch.manual_seed(0)
    model = MODELS.build(dict(type='ConvClassifier', channels=(4, 8, 16), convs_per_stage=2,
                              num_classes=7))
    modules = dict(model.named_modules())
    x = torch.rand(3, 1, 8, 8)
    feats = {}
    hooks = [modules[name].register_forward_hook(
        lambda m, i, o, name=name: feats.__setitem__(name, o))
        for name in ('backbone.stage1', 'backbone.stage2', 'backbone.stage3', 'pool', 'head')]
    logits = model(x)
    for h in hooks:
        h.remove()
    assert feats['backbone.stage1'].shape == (3, 4, 8, 8)
    assert feats['backbone.stage2'].shape == (3, 8, 4, 4)
    assert feats['backbone.stage3'].shape == (3, 16, 2, 2)
    assert feats['pool'].shape == (3, 16)
    assert logits.shape == (3, 7) and torch.equal(feats['head'], logits)
    labels = torch.tensor([0, 3, 6])
    loss = model(x, dict(labels=labels), mode='loss')
    assert set(loss) == {'loss_cls'}
    torch.testing.assert_close(loss['loss_cls'], F.cross_entropy(model(x), labels))
    preds = predictions(logits, dict(labels=labels))
    assert [int(p['gt_label']) for p in preds] == [0, 3, 6]
    torch.testing.assert_close(preds[1]['scores'], logits[1].softmax(0))
    assert 'gt_label' not in predictions(logits, None)[0]


def test_conv_classifier_errors():
    model = ConvClassifier(channels=(4,))
    with pytest.raises(ValueError, match=r'inputs: expected images \[N, C, H, W\], got shape '
                                         r'\(2, 8, 8\)'):
        model(torch.rand(2, 8, 8))
    with pytest.raises(ValueError, match=r"mode: expected 'tensor', 'loss' or 'predict', got "
                                         r"'logits'"):
        model(torch.rand(2, 1, 8, 8), mode='logits')
    with pytest.raises(KeyError, match=r"the 'loss' mode needs data_samples\['labels'\]"):
        model(torch.rand(2, 1, 8, 8), dict(targets=torch.zeros(2)), mode='loss')
