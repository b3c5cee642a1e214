"""A pretrained model's own input pipeline, applied to a batch just before the model sees it, so
that it can differ from the student's: 28-px grey images against the 224-px RGB an ImageNet CNN
was trained on, open_clip tokens against the raw text a WordPiece tokenizer needs.

In a teacher spec: ``preprocess=dict(type='ImageInputs', size=224, mean=0.5, std=0.5)`` or
``preprocess=dict(type='TextInputs', tokenizer='path/to/folder', max_length=32)``.
"""
import os
import os.path as osp
from typing import Dict, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmkd.errors import InvalidValueError, MissingFileError, WrongTypeError
from mmkd.registry import TRANSFORMS
from .pretrained import resolve

Number = Union[float, Sequence[float]]


@TRANSFORMS.register_module()
class ImageInputs(nn.Module):
    """Images ``[N, C, H, W]`` in [0, 1] -> ``size`` px (bilinear, antialiased when shrinking),
    grey repeated to ``channels``, then ``(x - mean) / std`` per channel.

    Args:
        size: output side (or ``(H, W)``); None keeps the size.
        channels: 3 repeats a 1-channel image into RGB; must match other inputs.
        mean, std: the normalisation the model was trained with (0.5 / 0.5 maps [0, 1] to
            [-1, 1], as EfficientNet-Lite expects; ImageNet's is (0.485, 0.456, 0.406) /
            (0.229, 0.224, 0.225)).
    """

    def __init__(self, size: Union[int, Sequence[int], None] = None, channels: int = 3,
                 mean: Number = 0.0, std: Number = 1.0) -> None:
        super().__init__()
        if size is not None:
            size = (size, size) if isinstance(size, (int, float)) else size
        self.size = None if size is None else tuple(int(s) for s in size)
        self.channels = channels
        mean_t, std_t = (torch.as_tensor(v, dtype=torch.float32).reshape(-1, 1, 1)
                         for v in (mean, std))
        if (std_t <= 0).any():
            raise InvalidValueError(f'ImageInputs.std: expected positive values, got {std}')
        self.register_buffer('mean', mean_t, persistent=False)
        self.register_buffer('std', std_t, persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        if not torch.is_tensor(images) or images.dim() != 4:
            shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
            raise InvalidValueError(f'ImageInputs: expected images [N, C, H, W], got {shape}')
        if images.shape[1] not in (1, self.channels):
            raise InvalidValueError(f'ImageInputs: images have {images.shape[1]} channels; '
                                    f'expected 1 (grey) or {self.channels}')
        images = images.float()
        if self.size is not None and tuple(images.shape[-2:]) != self.size:
            shrink = images.shape[-2] > self.size[0] or images.shape[-1] > self.size[1]
            images = F.interpolate(images, size=self.size, mode='bilinear', align_corners=False,
                                   antialias=shrink)
        if images.shape[1] == 1 and self.channels != 1:
            images = images.expand(-1, self.channels, -1, -1)
        return (images - self.mean.to(images.device)) / self.std.to(images.device)


@TRANSFORMS.register_module()
class TextInputs:
    """Raw strings -> a Hugging Face tokenizer's padded batch ``dict(input_ids, attention_mask,
    ...)`` of tensors, for a model that takes its own tokens.

    Args:
        tokenizer: a local folder holding the tokenizer's files (``tokenizer.json`` or a vocab),
            or a ``dict(factory=...)`` that returns one (:func:`mmkd.shared.pretrained.resolve`).
        max_length: longer texts are truncated to this many tokens.
    """

    def __init__(self, tokenizer: Union[str, dict], max_length: int = 64) -> None:
        tokenizer = resolve(tokenizer, 'TextInputs.tokenizer')
        if not isinstance(tokenizer, str) or not osp.isdir(tokenizer):
            raise MissingFileError(f'TextInputs.tokenizer: {tokenizer!r} is not a folder holding '
                                   'a tokenizer')
        from transformers import AutoTokenizer
        os.environ.setdefault('HF_HUB_OFFLINE', '1')
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer, local_files_only=True)
        self.max_length = max_length

    def __call__(self, texts: Sequence[str]) -> Dict[str, Tensor]:
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise WrongTypeError('TextInputs: expected a list of strings (e.g. the batch field '
                                 f'of the raw captions), got {type(texts).__name__}')
        return dict(self.tokenizer(list(texts), padding=True, truncation=True,
                                   max_length=self.max_length, return_tensors='pt'))
