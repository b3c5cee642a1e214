"""Image datasets for diffusion training: embedded digits, generated shapes, your own folder.

Every item is ``dict(inputs=FloatTensor[C, S, S] in [-1, 1], data_samples=dict(labels=int,
sample_idx=int))``, collated with ``collate_fn=dict(type='default_collate')``.

- :class:`DigitsImages`: scikit-learn's 8x8 digits (the split of
  :func:`mmkd.classification.datasets.digits_split`), bilinearly upsampled to ``image_size``.
- :class:`SyntheticShapesImages`: circles, squares and triangles drawn from
  ``(seed, index)`` alone, so an item never depends on the dataset size and nothing is cached.
- :class:`ImageFolderDataset`: every image PIL can read under a folder (recursively), resized
  (shorter side) and center-cropped to ``image_size``, as 1 or 3 channels.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mmkd.errors import InvalidValueError, MissingFileError, OutOfRangeError
from mmkd.classification.datasets import digits_split
from mmkd.registry import DATASETS

__all__ = ['DigitsImages', 'SyntheticShapesImages', 'ImageFolderDataset', 'SHAPES']


def _item(image: torch.Tensor, label: int, index: int) -> Dict:
    return dict(inputs=image, data_samples=dict(labels=int(label), sample_idx=int(index)))


@DATASETS.register_module()
class DigitsImages(Dataset):
    """The digits as ``[1, image_size, image_size]`` images in [-1, 1].

    Args:
        split: ``'train'`` (1257 images) or ``'test'`` (540), stratified with ``seed``.
        image_size: output side; the 8x8 images are resized with bilinear interpolation
            (``align_corners=False``), then ``x * 2 - 1``.
        test_fraction, seed: of the split (as ``DigitsDataset``).
        num_samples: keep only the first ``num_samples`` images, or all when None.
    """

    METAINFO = dict(classes=tuple(str(i) for i in range(10)))

    def __init__(self, split: str = 'train', image_size: int = 16, test_fraction: float = 0.3,
                 seed: int = 0, num_samples: Optional[int] = None) -> None:
        images, labels = digits_split(split, test_fraction, seed, num_samples)
        images = torch.from_numpy(images).unsqueeze(1)
        if image_size != images.shape[-1]:
            images = F.interpolate(images, size=(image_size, image_size), mode='bilinear',
                                   align_corners=False)
        self.images = (images * 2 - 1).clamp(-1, 1)
        self.labels = labels.tolist()
        self.metainfo = dict(self.METAINFO)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Dict:
        return _item(self.images[index], self.labels[index], index)


SHAPES = ('circle', 'square', 'triangle')


def draw_shape(shape: str, image_size: int, rng: np.random.Generator,
               supersample: int = 4) -> np.ndarray:
    """One anti-aliased shape (values in [0, 1], background 0) with a random centre, size,
    rotation (squares, triangles) and brightness in [0.6, 1]."""
    n = image_size * supersample
    coords = (np.arange(n) + 0.5) / n                      # pixel centres in [0, 1]
    y, x = np.meshgrid(coords, coords, indexing='ij')
    radius = rng.uniform(0.2, 0.35)
    cy, cx = rng.uniform(radius, 1 - radius, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    dy, dx = y - cy, x - cx
    u = np.cos(angle) * dx + np.sin(angle) * dy             # rotated coordinates
    v = -np.sin(angle) * dx + np.cos(angle) * dy
    if shape == 'circle':
        mask = dx ** 2 + dy ** 2 <= radius ** 2
    elif shape == 'square':
        half = radius / np.sqrt(2) * 1.2
        mask = (np.abs(u) <= half) & (np.abs(v) <= half)
    elif shape == 'triangle':                               # equilateral, circumradius `radius`
        mask = np.ones_like(u, dtype=bool)
        for k in range(3):
            theta = angle + k * 2 * np.pi / 3
            mask &= np.cos(theta) * dx + np.sin(theta) * dy <= radius / 2
    else:
        raise InvalidValueError(f'shape: expected one of {SHAPES}, got {shape!r}')
    image = mask.reshape(image_size, supersample, image_size, supersample).mean(axis=(1, 3))
    return (image * rng.uniform(0.6, 1.0)).astype(np.float32)


@DATASETS.register_module()
class SyntheticShapesImages(Dataset):
    """Generated grayscale shapes, label = index in ``shapes``.

    Item ``i`` is drawn from ``numpy.random.default_rng([seed, i])`` (shape ``i % len(shapes)``),
    so it is the same for any ``num_samples`` and costs a few microseconds to regenerate.
    Use different seeds for train and test sets.
    """

    def __init__(self, num_samples: int = 1000, image_size: int = 16, seed: int = 0,
                 shapes: Sequence[str] = SHAPES) -> None:
        if num_samples < 1:
            raise InvalidValueError(f'num_samples: expected >= 1, got {num_samples}')
        for shape in shapes:
            if shape not in SHAPES:
                raise InvalidValueError(f'shapes: expected names from {SHAPES}, got {shape!r}')
        self.num_samples, self.image_size, self.seed = num_samples, image_size, seed
        self.shapes = tuple(shapes)
        self.metainfo = dict(classes=self.shapes)

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> Dict:
        if not 0 <= index < self.num_samples:
            raise OutOfRangeError(f'index {index} out of range for {self.num_samples} images')
        label = index % len(self.shapes)
        rng = np.random.default_rng([self.seed, index])
        image = draw_shape(self.shapes[label], self.image_size, rng)
        return _item(torch.from_numpy(image)[None] * 2 - 1, label, index)


def image_extensions() -> List[str]:
    """The file extensions PIL can open (lower case, with the dot)."""
    from PIL import Image
    return sorted(Image.registered_extensions())


@DATASETS.register_module()
class ImageFolderDataset(Dataset):
    """Your own images: every file under ``data_root`` (recursive, sorted) with an extension PIL
    reads.

    Images are converted to ``'L'`` (``channels=1``) or ``'RGB'`` (3), resized so that the
    shorter side is ``image_size`` (bicubic, antialiased), center-cropped to a square and scaled
    to [-1, 1]. ``labels`` index the first-level subfolder (sorted, ``metainfo['classes']``), 0
    for files directly in ``data_root``. With ``check_files`` every file is opened at build time
    and all unreadable ones are reported together; otherwise a bad file fails when it is read,
    with its path in the error.
    """

    def __init__(self, data_root: str, image_size: int = 16, channels: int = 1,
                 extensions: Optional[Sequence[str]] = None, check_files: bool = True) -> None:
        if channels not in (1, 3):
            raise InvalidValueError(f'channels: expected 1 or 3, got {channels}')
        if not osp.isdir(data_root):
            raise MissingFileError(f'data_root: {data_root!r} is not a directory')
        extensions = tuple(e.lower() for e in (extensions or image_extensions()))
        self.files = sorted(
            osp.join(root, name) for root, _, names in os.walk(data_root, followlinks=True)
            for name in names if osp.splitext(name)[1].lower() in extensions)
        if not self.files:
            raise MissingFileError(f'data_root: no image files under {data_root!r} (looked for '
                                   f'{", ".join(extensions[:12])}...)')
        self.data_root, self.image_size, self.channels = data_root, image_size, channels
        folders = [osp.relpath(f, data_root).split(os.sep) for f in self.files]
        classes = sorted({parts[0] for parts in folders if len(parts) > 1})
        self.labels = [classes.index(p[0]) if len(p) > 1 else 0 for p in folders]
        self.metainfo = dict(classes=tuple(classes))
        if check_files:
            bad = []
            for path in self.files:
                try:
                    self._load(path)
                except ValueError as err:
                    bad.append(str(err))
            if bad:
                raise InvalidValueError(f'{len(bad)} of {len(self.files)} files under '
                                        f'{data_root!r} are not readable images:\n  '
                                        '' + '\n  '.join(bad[:10]))

    def _load(self, path: str) -> torch.Tensor:
        from PIL import Image
        try:
            with Image.open(path) as image:
                image = image.convert('L' if self.channels == 1 else 'RGB')
        except Exception as err:
            raise InvalidValueError(f'cannot read image {path!r}: {err}') from err
        w, h = image.size
        scale = self.image_size / min(w, h)
        size = (max(self.image_size, round(w * scale)), max(self.image_size, round(h * scale)))
        image = image.resize(size, Image.BICUBIC, reducing_gap=None)
        left, top = (size[0] - self.image_size) // 2, (size[1] - self.image_size) // 2
        image = image.crop((left, top, left + self.image_size, top + self.image_size))
        array = np.asarray(image, dtype=np.float32) / 255.0
        array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(array)) * 2 - 1

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Dict:
        return _item(self._load(self.files[index]), self.labels[index], index)
