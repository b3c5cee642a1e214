"""scikit-learn's bundled 8x8 handwritten digits as an image-classification dataset.

Real data that ships inside scikit-learn (1797 images, 10 classes), so it works offline. Items are
``dict(inputs=FloatTensor[1, 8, 8] in [0, 1], data_samples=dict(labels, sample_idx))``; use
``collate_fn=dict(type='default_collate')``.
"""
from typing import Dict, Optional

import numpy as np
import torch
from torch.utils.data import Dataset

from mmkd.errors import InvalidValueError
from mmkd.registry import DATASETS


def digits_split(split: str, test_fraction: float = 0.3, seed: int = 0,
                 num_samples: Optional[int] = None):
    """The images (``[N, 8, 8]`` float32 in [0, 1]) and labels of a stratified, seeded split;
    only its first ``num_samples`` images when given (1 to the split's size)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    if split not in ('train', 'test'):
        raise InvalidValueError(f"split: expected 'train' or 'test', got {split!r}")
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    train_x, test_x, train_y, test_y = train_test_split(
        images, digits.target, test_size=test_fraction, random_state=seed,
        stratify=digits.target)
    images, labels = (train_x, train_y) if split == 'train' else (test_x, test_y)
    if num_samples is not None:
        if not 0 < num_samples <= len(images):
            raise InvalidValueError(f'num_samples: expected 1..{len(images)} for the {split} '
                                    f'split, got {num_samples}')
        images, labels = images[:num_samples], labels[:num_samples]
    return images, labels


@DATASETS.register_module()
class DigitsDataset(Dataset):
    """The train or test part of the digits, optionally with random shifts for training.

    Args:
        split: ``'train'`` or ``'test'``.
        test_fraction: share of the 1797 images held out for testing (stratified).
        seed: split seed.
        max_shift: random translation in pixels (0 = no augmentation).
        num_samples: keep only the first ``num_samples`` images of the split (a smaller
            training set), or all when None.
    """

    METAINFO = dict(classes=tuple(str(i) for i in range(10)))

    def __init__(self, split: str = 'train', test_fraction: float = 0.3, seed: int = 0,
                 max_shift: int = 0, num_samples: Optional[int] = None) -> None:
        images, labels = digits_split(split, test_fraction, seed, num_samples)
        self.images = torch.from_numpy(images).unsqueeze(1)
        self.labels = torch.from_numpy(labels).long()
        self.max_shift = max_shift
        self.metainfo = dict(self.METAINFO)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Dict:
        image = self.images[index]
        if self.max_shift:
            dy, dx = torch.randint(-self.max_shift, self.max_shift + 1, (2,)).tolist()
            image = shift_image(image, dy, dx)
        return dict(inputs=image,
                    data_samples=dict(labels=self.labels[index], sample_idx=index))


def shift_image(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Translate ``[C, H, W]`` by (dy, dx) pixels, filling with zeros."""
    shifted = torch.zeros_like(image)
    h, w = image.shape[-2:]
    shifted[..., max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[..., max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return shifted
