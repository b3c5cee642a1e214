"""Fashion-MNIST as image-caption pairs, for CLIP students taught by real pretrained towers.

Each image gets a caption of its class from one of many templates, with attributes only where
they are true: the item's kind (every T-shirt is a piece of clothing, every sandal a shoe) and,
when the image says so, its shade (the mean grey of the item's pixels: ``dark`` below 0.5,
``light`` above 0.75; about a quarter of the images each). Training captions are drawn anew on
every access from ``TRAIN_TEMPLATES`` (from torch's global RNG, so the teacher-output cache
replays them). Validation and test captions,
and the zero-shot prompts in ``metainfo['templates']``, are paraphrases held out from training
(``HELD_OUT_TEMPLATES``): a student is measured on wording it never saw.
"""
import re
from typing import Dict, Optional, Sequence

import torch

from mmkd.classification.fashion_mnist import FASHION_MNIST_ROOT, FashionMNIST
from mmkd.errors import InvalidValueError
from mmkd.registry import DATASETS

CLASS_NAMES = ('t-shirt', 'pair of trousers', 'pullover', 'dress', 'coat', 'sandal', 'shirt',
               'sneaker', 'bag', 'ankle boot')
KINDS = ('piece of clothing', 'piece of clothing', 'piece of clothing', 'piece of clothing',
         'piece of clothing', 'shoe', 'piece of clothing', 'shoe', 'accessory', 'shoe')
TRAIN_TEMPLATES = (
    'a photo of a {name}.',
    'a grey photo of a {name}.',
    'a {name} on a black background.',
    'a product photo of a {name}, a {kind}.',
    'this {kind} is a {name}.',
    'a small image of a {name}.',
    'a {shade} {name}.',
    'a photo of a {shade} {kind}: a {name}.',
)
HELD_OUT_TEMPLATES = (
    'a picture of a {name}.',
    'there is a {name} in this image.',
    'a low-resolution photo of the {name}.',
    'an example of a {name}.',
)
DARK, LIGHT = 0.5, 0.75  # mean grey of the item's pixels (those above 0.1)


def shade(image: torch.Tensor) -> Optional[str]:
    """``'dark'``, ``'light'`` or None (neither is true) for an image in [0, 1]."""
    item = image[image > 0.1]
    if item.numel() == 0:
        return None
    mean = float(item.mean())
    return 'dark' if mean < DARK else 'light' if mean > LIGHT else None


def caption(template: str, label: int, image_shade: Optional[str]) -> str:
    """``template`` filled for class ``label``; a template that needs a shade the image does not
    have drops the word."""
    text = template.format(name=CLASS_NAMES[label], kind=KINDS[label], shade=image_shade or '')
    return re.sub(r'\ba ([aeiou])', r'an \1', ' '.join(text.split()))


@DATASETS.register_module()
class FashionMNISTCaptions(FashionMNIST):
    """Fashion-MNIST's splits (see :class:`~mmkd.classification.FashionMNIST`: ``'train'``,
    ``'val'`` held out of the training file, ``'test'``) as image-caption pairs: items
    ``dict(inputs=dict(image=FloatTensor[3, 28, 28], text=str), data_samples=dict(labels,
    sample_idx))``. Training captions come from ``TRAIN_TEMPLATES`` at random; validation and
    test captions from ``HELD_OUT_TEMPLATES`` (sample ``i`` takes template ``i % 4``).
    ``metainfo``: the class names and the held-out templates, for zero-shot prompts.

    Args:
        split, root, val_size, crop_padding, flip, num_samples: as FashionMNIST's.
        templates: the training templates (``{name}``, and optionally ``{kind}``, ``{shade}``).
    """

    def __init__(self, split: str = 'train', root: str = FASHION_MNIST_ROOT, val_size: int = 5000,
                 crop_padding: int = 0, flip: bool = False, num_samples: Optional[int] = None,
                 templates: Sequence[str] = TRAIN_TEMPLATES) -> None:
        super().__init__(split=split, root=root, val_size=val_size, crop_padding=crop_padding,
                         flip=flip, num_samples=num_samples)
        if not templates or not all('{name}' in t for t in templates):
            raise InvalidValueError('templates: expected templates that each contain {name}, got '
                                    f'{list(templates)!r}')
        self.random_captions = split == 'train'
        self.templates = tuple(templates) if self.random_captions else HELD_OUT_TEMPLATES
        self.metainfo = dict(classes=CLASS_NAMES,
                             templates=tuple(t.replace('{name}', '{}') for t in HELD_OUT_TEMPLATES))

    def __getitem__(self, index: int) -> Dict:
        image = self.image(index)
        label = int(self.true_labels[index])
        pick = int(torch.randint(len(self.templates), ())) if self.random_captions else index
        template = self.templates[pick % len(self.templates)]
        return dict(inputs=dict(image=image.expand(3, -1, -1),
                                text=caption(template, label, shade(image))),
                    data_samples=dict(labels=label, sample_idx=index))
