"""Label-scarce training sets, for every modality: a stratified random subset of a dataset's
samples, and :class:`LabelScarce`, a dataset whose labels are hidden (``labels = -1``, skipped by
the classifiers' loss) except on a stratified fraction, the transfer set of distillation."""
from typing import Any, Dict, Sequence, Tuple

import numpy as np
from torch.utils.data import Dataset

from mmkd.errors import ConfigError, InvalidValueError
from mmkd.registry import DATASETS

HIDDEN_LABEL = -1


def stratified_subset(labels: np.ndarray, size: float, seed: int) -> np.ndarray:
    """Sorted indices of a class-stratified random subset: ``size`` is a count (int) or a fraction
    of ``labels`` (float in (0, 1]); every class keeps its share, rounded, and at least one."""
    labels = np.asarray(labels)
    fraction = size / len(labels) if isinstance(size, int) else float(size)
    if not 0 < fraction <= 1:
        raise InvalidValueError(f'subset size: expected a count in 1..{len(labels)} or a fraction '
                                f'in (0, 1], got {size!r}')
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        count = max(1, int(round(fraction * len(members))))
        chosen.append(rng.choice(members, size=count, replace=False))
    return np.sort(np.concatenate(chosen))


def labelled_mask(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the samples whose labels are kept: a stratified ``fraction`` of
    ``labels`` (:func:`stratified_subset`), none for 0 and all for 1."""
    mask = np.zeros(len(labels), dtype=bool)
    if fraction > 0:
        mask[stratified_subset(np.asarray(labels), float(fraction), seed)] = True
    return mask


def build_with_mask(owner: str, dataset: Any, fraction: float, fraction_key: str,
                    seed: int) -> Tuple[Any, Sequence, np.ndarray]:
    """The wrapped dataset of a scarce-supervision wrapper (built from its config if needed),
    its ``labels`` and the :func:`labelled_mask` of a stratified ``fraction`` of them; errors
    name ``owner`` and ``fraction_key``."""
    dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
    labels = getattr(dataset, 'labels', None)
    if labels is None:
        raise ConfigError(f'{owner}: the wrapped {type(dataset).__name__} has no `labels` to '
                          'stratify the choice by')
    if not 0 <= fraction <= 1:
        raise InvalidValueError(f'{owner}.{fraction_key}: expected a share in [0, 1], got '
                                f'{fraction!r}')
    return dataset, labels, labelled_mask(np.asarray(labels), fraction, seed)


@DATASETS.register_module()
class LabelScarce(Dataset):
    """A dataset whose labels the losses see only on a stratified fraction of its samples.

    Items are the wrapped dataset's, with ``data_samples['labels']`` set to ``-1`` outside the
    labelled fraction and the label kept as ``data_samples['true_labels']`` (for evaluation
    only). ``labelled_fraction=0`` hides every label: label-free transfer, where only a teacher
    teaches. Every class keeps at least one labelled sample when the fraction is above 0.

    Args:
        dataset: the wrapped dataset (or its config), with a ``labels`` sequence and items
            ``dict(inputs=..., data_samples=dict(labels=...))``.
        labelled_fraction: share of samples whose labels are kept, in [0, 1].
        seed: seed of the stratified choice.
    """

    def __init__(self, dataset, labelled_fraction: float, seed: int = 0) -> None:
        self.dataset, labels, self.labelled = build_with_mask(
            'LabelScarce', dataset, labelled_fraction, 'labelled_fraction', seed)
        self.labels = [int(y) if keep else HIDDEN_LABEL for y, keep in zip(labels, self.labelled)]
        self.metainfo = dict(getattr(self.dataset, 'metainfo', {}) or {})

    @property
    def num_labelled(self) -> int:
        return int(self.labelled.sum())

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        item = self.dataset[index]
        samples = dict(item.get('data_samples') or {})
        if 'labels' not in samples:
            raise ConfigError(f'LabelScarce: item {index} of {type(self.dataset).__name__} has no '
                              "data_samples['labels']")
        samples['true_labels'] = samples['labels']
        samples['labels'] = self.labels[index % len(self)]
        return dict(item, data_samples=samples)
