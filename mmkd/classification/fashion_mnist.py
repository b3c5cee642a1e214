"""Fashion-MNIST (Xiao et al. 2017), read from the IDX files of Debian's ``dataset-fashion-mnist``.

60 000 training and 10 000 test images of 28x28 grey clothes, 10 classes of 6 000 / 1 000 each.
mmkd holds out a stratified validation split of the training file (5 000 images by default) for
model selection, so the test file is only ever used for the final figure. For the label-scarce
protocol the training split offers a stratified labelled fraction; the other images are a transfer
set whose labels are hidden from the losses (``labels = -1``) and kept as ``true_labels``.

Items are ``dict(inputs=FloatTensor[1, 28, 28] in [0, 1], data_samples=dict(labels, true_labels,
sample_idx))``; use ``collate_fn=dict(type='default_collate')``. Augmentations draw from torch's
global RNG only, so the teacher-output cache replays them exactly.
"""
import gzip
import os.path as osp
from typing import Dict, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mmkd.errors import InvalidValueError, MissingFileError
from mmkd.registry import DATASETS
from mmkd.shared.label_subsets import HIDDEN_LABEL, labelled_mask, stratified_subset

FASHION_MNIST_ROOT = '/usr/share/datasets/fashion-mnist'
INSTALL_HINT = ('install it with `apt-get install dataset-fashion-mnist` (`make install` does) '
                'or pass root= a folder holding the four IDX .gz files')
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
FILES = dict(train=('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz'),
             test=('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'))
CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker',
           'Bag', 'Ankle boot')


def read_idx(path: str, magic: int) -> np.ndarray:
    """The array of a gzipped IDX file (``uint8``: images ``[N, H, W]`` for magic 2051, labels
    ``[N]`` for 2049), after checking its magic number and that its size matches its header."""
    if not osp.isfile(path):
        raise MissingFileError(f'Fashion-MNIST file {path!r} does not exist; {INSTALL_HINT}')
    try:
        with gzip.open(path, 'rb') as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise InvalidValueError(f'Fashion-MNIST file {path!r} is not a whole gzip file ({error}); '
                                f'reinstall it: {INSTALL_HINT}') from None
    ndim = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}[magic]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InvalidValueError(f'Fashion-MNIST file {path!r}: {len(data)} bytes, shorter than its '
                                f'{header}-byte IDX header')
    found = int.from_bytes(data[:4], 'big')
    if found != magic:
        raise InvalidValueError(f'Fashion-MNIST file {path!r}: IDX magic number {found}, expected '
                                f'{magic} ({"images" if magic == IMAGES_MAGIC else "labels"})')
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise InvalidValueError(f'Fashion-MNIST file {path!r}: {len(data)} bytes, expected '
                                f'{expected} for its header shape {shape} (truncated or corrupt)')
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def load_fashion_mnist(part: str, root: str = FASHION_MNIST_ROOT) -> Tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 [N, 28, 28]`` and labels ``int64 [N]`` of the ``'train'`` or ``'test'``
    file pair."""
    if part not in FILES:
        raise InvalidValueError(f"part: expected 'train' or 'test', got {part!r}")
    image_file, label_file = (osp.join(root, name) for name in FILES[part])
    images = read_idx(image_file, IMAGES_MAGIC)
    labels = read_idx(label_file, LABELS_MAGIC).astype(np.int64)
    if len(images) != len(labels):
        raise InvalidValueError(f'Fashion-MNIST: {image_file!r} holds {len(images)} images but '
                                f'{label_file!r} {len(labels)} labels')
    if labels.size and labels.max() >= len(CLASSES):
        raise InvalidValueError(f'Fashion-MNIST file {label_file!r}: label {labels.max()} outside '
                                f'0..{len(CLASSES) - 1}')
    return images, labels


@DATASETS.register_module()
class FashionMNIST(Dataset):
    """One split of Fashion-MNIST, optionally label-scarce and augmented.

    Args:
        split: ``'train'`` (the training file less the validation images), ``'val'`` (a
            stratified ``val_size`` of the training file) or ``'test'`` (the test file).
        root: folder of the IDX files.
        val_size: images held out of the training file for validation (stratified, ``split_seed``).
        labelled_fraction: share of the train split whose labels the student may use (stratified,
            ``labelled_seed``); 1.0 = all.
        subset: ``'all'`` (labelled images with their labels, the others with ``labels = -1``),
            ``'labelled'`` or ``'unlabelled'`` (only those images).
        crop_padding: random translation by up to this many pixels (zero fill), 0 = none.
        flip: random horizontal flip.
        mix: ``None``, ``'mixup'``, ``'cutmix'`` or ``'mixup_cutmix'`` (one of the two at random):
            mix each image with another random image of the split (Beyer et al.'s function
            matching; the label stays the first image's, so use it with label-free losses).
        mix_alpha: Beta(alpha, alpha) for the mixing ratio.
        num_samples: keep only the first ``num_samples`` items (tests, quick runs).
    """

    METAINFO = dict(classes=CLASSES)
    # the augmentations below draw from torch's RNG only: the teacher-output cache seeds just it
    replay_rngs = ('torch',)

    def __init__(self, split: str = 'train', root: str = FASHION_MNIST_ROOT, val_size: int = 5000,
                 split_seed: int = 0, labelled_fraction: float = 1.0, labelled_seed: int = 0,
                 subset: str = 'all', crop_padding: int = 0, flip: bool = False,
                 mix: Optional[str] = None, mix_alpha: float = 1.0,
                 num_samples: Optional[int] = None) -> None:
        if split not in ('train', 'val', 'test'):
            raise InvalidValueError(f"split: expected 'train', 'val' or 'test', got {split!r}")
        if subset not in ('all', 'labelled', 'unlabelled'):
            raise InvalidValueError("subset: expected 'all', 'labelled' or 'unlabelled', got "
                                    f"{subset!r}")
        if mix not in (None, 'mixup', 'cutmix', 'mixup_cutmix'):
            raise InvalidValueError(f"mix: expected None, 'mixup', 'cutmix' or 'mixup_cutmix', got "
                                    f'{mix!r}')
        if not 0 < labelled_fraction <= 1:
            raise InvalidValueError('labelled_fraction: expected a share in (0, 1], got '
                                    f'{labelled_fraction!r}')
        if split != 'train' and (labelled_fraction != 1.0 or subset != 'all'):
            raise InvalidValueError('labelled_fraction/subset: only the train split is '
                                    f'label-scarce, got split={split!r}')
        images, labels = load_fashion_mnist('test' if split == 'test' else 'train', root)
        if split != 'test':
            if not 0 < val_size < len(labels):
                raise InvalidValueError(f'val_size: expected 1..{len(labels) - 1}, got {val_size}')
            val = stratified_subset(labels, int(val_size), split_seed)
            keep = val if split == 'val' else np.setdiff1d(np.arange(len(labels)), val)
            images, labels = images[keep], labels[keep]
        labelled = labelled_mask(labels, labelled_fraction, labelled_seed)
        keep = dict(all=slice(None), labelled=labelled, unlabelled=~labelled)[subset]
        images, labels, labelled = images[keep], labels[keep], labelled[keep]
        if num_samples is not None:
            if not 0 < num_samples <= len(labels):
                raise InvalidValueError(f'num_samples: expected 1..{len(labels)}, got '
                                        f'{num_samples}')
            images, labels, labelled = (a[:num_samples] for a in (images, labels, labelled))
        # uint8, zero-padded once so that a random translation is a crop (a view) of it; the
        # images themselves are the centre view, not a second copy
        pad, (h, w) = int(crop_padding), images.shape[-2:]
        self._padded = F.pad(torch.tensor(images).unsqueeze(1), [pad] * 4)
        self.images = self._padded[..., pad:pad + h, pad:pad + w]
        self.true_labels = torch.from_numpy(labels)
        self.labels = torch.where(torch.from_numpy(labelled), self.true_labels,
                                  torch.full_like(self.true_labels, HIDDEN_LABEL))
        self.crop_padding, self.flip = int(crop_padding), bool(flip)
        self.mix, self.mix_alpha = mix, float(mix_alpha)
        self.metainfo = dict(self.METAINFO)

    @property
    def num_labelled(self) -> int:
        return int((self.labels != HIDDEN_LABEL).sum())

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, index: int) -> torch.Tensor:
        """Image ``index`` as floats in [0, 1], translated and flipped at random if set."""
        image = self.images[index]
        if self.crop_padding:  # content moves by (dy, dx), as shift_image(image, dy, dx)
            dy, dx = torch.randint(-self.crop_padding, self.crop_padding + 1, (2,)).tolist()
            (h, w), top, left = image.shape[-2:], self.crop_padding - dy, self.crop_padding - dx
            image = self._padded[index, :, top:top + h, left:left + w]
        if self.flip and torch.rand(()) < 0.5:
            image = image.flip(-1)
        return image.float().div_(255.0)

    def __getitem__(self, index: int) -> Dict:
        image = self.image(index)
        if self.mix is not None:
            image = self.mixed(image)
        return dict(inputs=image,
                    data_samples=dict(labels=self.labels[index],
                                      true_labels=self.true_labels[index], sample_idx=index))

    def mixed(self, image: torch.Tensor) -> torch.Tensor:
        other = self.image(int(torch.randint(len(self), ())))
        lam = float(torch.distributions.Beta(self.mix_alpha, self.mix_alpha,
                                            validate_args=False).sample())
        kind = self.mix
        if kind == 'mixup_cutmix':
            kind = 'mixup' if torch.rand(()) < 0.5 else 'cutmix'
        if kind == 'mixup':
            return lam * image + (1 - lam) * other
        h, w = image.shape[-2:]  # cutmix: a box of area (1 - lam) from the other image
        bh, bw = int(h * (1 - lam) ** 0.5), int(w * (1 - lam) ** 0.5)
        y, x = torch.randint(h - bh + 1, ()).item(), torch.randint(w - bw + 1, ()).item()
        image = image.clone()
        image[..., y:y + bh, x:x + bw] = other[..., y:y + bh, x:x + bw]
        return image
