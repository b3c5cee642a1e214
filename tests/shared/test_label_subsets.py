"""Stratified subsets and the label-scarce dataset wrapper, on a small real point dataset."""
from collections import Counter

import numpy as np
import pytest
import torch

from mmkd.errors import ConfigError
from mmkd.pointcloud.datasets import SyntheticShapes
from mmkd.registry import DATASETS
from mmkd.shared.label_subsets import HIDDEN_LABEL, LabelScarce, stratified_subset


def test_stratified_subset_counts_and_errors():
    labels = np.repeat(np.arange(3), [10, 20, 70])
    chosen = stratified_subset(labels, 0.1, seed=0)
    assert Counter(labels[chosen].tolist()) == {0: 1, 1: 2, 2: 7}
    assert len(np.unique(chosen)) == len(chosen)
    assert Counter(labels[stratified_subset(labels, 0.01, 0)].tolist()) == {0: 1, 1: 1, 2: 1}
    with pytest.raises(ValueError, match=r'subset size: expected'):
        stratified_subset(labels, 1.5, 0)


@pytest.fixture(scope='module')
def shapes():
    return SyntheticShapes('train', num_train_per_class=4, num_points=32, cache_dir=None,
                           classes=['box', 'sphere', 'cone'], progress=False)


def test_label_scarce_hides_all_but_a_stratified_fraction(shapes):
    scarce = DATASETS.build(dict(type='LabelScarce', dataset=shapes, labelled_fraction=0.25))
    assert len(scarce) == 12 and scarce.num_labelled == 3
    kept = [y for y in scarce.labels if y != HIDDEN_LABEL]
    assert sorted(kept) == [0, 1, 2]
    for i in range(len(scarce)):
        item = scarce[i]
        assert torch.equal(item['inputs'], shapes[i]['inputs'])
        assert item['data_samples']['true_labels'] == shapes.labels[i]
        assert item['data_samples']['labels'] == scarce.labels[i]
        assert item['data_samples']['labels'] in (shapes.labels[i], HIDDEN_LABEL)
    # the choice depends on the seed only
    again = LabelScarce(shapes, 0.25, seed=0)
    other = [LabelScarce(shapes, 0.25, seed=s).labels for s in range(1, 6)]
    assert again.labels == scarce.labels and any(o != scarce.labels for o in other)


def test_label_free_and_all_labels(shapes):
    assert LabelScarce(shapes, 0.0).labels == [HIDDEN_LABEL] * 12
    assert LabelScarce(shapes, 1.0).labels == list(shapes.labels)


def test_label_scarce_errors(shapes):
    with pytest.raises(ValueError, match=r'labelled_fraction: expected a share in \[0, 1\]'):
        LabelScarce(shapes, 1.5)
    with pytest.raises(ConfigError, match='wrapped list has no `labels`'):
        LabelScarce([dict(inputs=0)], 0.5)
