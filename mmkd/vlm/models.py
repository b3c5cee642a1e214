"""An MMEngine adapter around any open_clip CLIP model, as teacher or student.

Inputs (the batch format shared by :mod:`mmkd.vlm`): ``inputs = dict(image=FloatTensor[B, 3, H, W]
in [0, 1], text=list[str] of length B)`` and ``data_samples = dict(labels=LongTensor[B] (zero-shot
class, -1 when unknown), sample_idx=LongTensor[B])``. The data are model-agnostic: each model
resizes the images to its own size (bilinear, antialiased), normalises them with its own mean and
std and tokenizes the captions with its own tokenizer and context length, so a teacher and a
student that differ in all of these consume the same batch.

Modes: ``'tensor'`` -> ``dict(image_embeds [B, D], text_embeds [B, D], logit_scale [])`` (embeds
L2-normalised, ``logit_scale`` exponentiated); ``'loss'`` -> ``dict(loss_clip=...)``, the symmetric
CLIP InfoNCE over the batch (over its captioned pairs when ``data_samples['captioned']`` says which
have a caption, as :class:`~mmkd.vlm.datasets.CaptionScarce` does); ``'predict'`` -> one dict per
sample (see :meth:`OpenCLIPModel.predict`).

Recordable modules (``named_modules()`` paths, for :mod:`mmkd.distill.recorders`):
``image_embed`` (``[B, D]``, normalised), ``text_embed`` (``[B, D]``, normalised),
``logit_scale_out`` (scalar, exponentiated) and open_clip's own internals under ``clip.``, e.g.
``clip.visual.transformer.resblocks.0`` (ViT tokens ``[B, 1 + grid, width]``; open_clip 3 runs
its transformers batch-first) or ``clip.transformer.resblocks.0`` (text tokens).
"""
import copy
import inspect
import math
import os
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import open_clip
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from open_clip.transform import PreprocessCfg
from torch import Tensor, nn

from mmkd.errors import InvalidValueError, MissingFileError, StateError, WrongTypeError
from mmkd.fileio import CheckpointMismatchError, load_state_dict_file, state_dict_mismatch
from mmkd.registry import MODELS

from .losses.utils import row_mask

__all__ = ['OpenCLIPModel', 'clip_contrastive_loss']

Template = Union[str, Callable[[str], str]]
_CHECKPOINT_SUFFIXES = ('.pt', '.pth', '.bin', '.ckpt', '.safetensors')
_TEXTS_PER_CHUNK = 256          # captions per text-encoder call when building the classifier


@contextmanager
def _seeded(seed: Optional[int]) -> Iterator[None]:
    """Build modules from a forked CPU RNG seeded with ``seed``; the global RNG is untouched.
    (The same as ``mmkd.pointcloud.models._SeededInit``, which is not imported here because that
    module pulls in torch_geometric.)"""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def clip_contrastive_loss(image_embeds: Tensor, text_embeds: Tensor, logit_scale: Tensor) -> Tensor:
    """Symmetric InfoNCE of CLIP: the mean of the image->text and text->image cross-entropies
    of ``logit_scale * image_embeds @ text_embeds.T``, pair ``i`` being the positive of row
    ``i``."""
    logits = logit_scale * image_embeds @ text_embeds.t()
    targets = torch.arange(logits.size(0), device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets)) / 2


def _pair(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(size, int):
        return size, size
    size = tuple(int(s) for s in size)
    if len(size) != 2:
        raise InvalidValueError(f'image_size: expected an int or (height, width), got {size}')
    return size


def _looks_like_path(value: str) -> bool:
    return os.sep in value or '/' in value or value.endswith(_CHECKPOINT_SUFFIXES)


@MODELS.register_module()
class OpenCLIPModel(BaseModel):
    """An open_clip model with its own preprocessing and tokenizer.

    Args:
        model_name: an open_clip architecture name (``'ViT-B-32'``, ``'RN50'``, a name added with
            ``open_clip.add_model_config``, ``'hf-hub:org/repo'``, ``'local-dir:/path'``).
        model_cfg: an inline architecture instead of a name: ``dict(embed_dim=..., vision_cfg=...,
            text_cfg=..., quick_gelu=False, custom_text=False, ...)`` as in open_clip's JSON
            model configs. Exactly one of ``model_name`` and ``model_cfg`` is given.
        pretrained: ``None`` (random weights, nothing is downloaded: also not the default
            ImageNet / HF tower weights), an open_clip pretrained tag of ``model_name`` (open_clip
            downloads it, e.g. ``'laion2b_s34b_b79k'``), or the path of a local checkpoint: a raw
            open_clip state dict (keys optionally prefixed ``module.``) or an MMEngine checkpoint
            of this class (``state_dict`` with keys prefixed ``clip.``), loaded with
            ``weights_only=True``. Position embeddings are resized when only ``image_size`` or
            ``context_length`` differ from the checkpoint's, as open_clip does.
        image_size: overrides the architecture's input size (int or ``(height, width)``).
        image_mean, image_std: normalisation; default: the model's open_clip preprocess config
            (the pretrained tag's when it has its own, else OpenAI's).
        context_length: overrides the architecture's text context length (and the tokenizer's).
        zero_shot: ``dict(classes=[...names...], templates=['a photo of a {}.', ...])``: enables
            zero-shot classification scores in ``'predict'`` mode (see :meth:`set_zero_shot`).
        max_logit_scale: the exponentiated logit scale is clamped to at most this value, as
            open_clip's training loop clamps it to 100 (``None``: no clamp).
        init_seed: seed of the forked RNG used for the random initialisation (``None``: the
            global RNG). Construction never reads or advances the global RNG otherwise.
        data_preprocessor: passed to :class:`mmengine.model.BaseModel` (only moves the batch to
            the device by default; the adapter preprocesses images itself).

    The weights are final after construction: :meth:`init_weights` does nothing, so that the
    runner cannot re-initialise a loaded (or timm) tower, and ``init_cfg`` is refused.
    """

    def __init__(self, model_name: Optional[str] = None, model_cfg: Optional[dict] = None,
                 pretrained: Optional[str] = None,
                 image_size: Optional[Union[int, Sequence[int]]] = None,
                 image_mean: Optional[Sequence[float]] = None,
                 image_std: Optional[Sequence[float]] = None,
                 context_length: Optional[int] = None, zero_shot: Optional[dict] = None,
                 max_logit_scale: Optional[float] = 100.0, init_seed: Optional[int] = 0,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if init_cfg is not None:
            raise InvalidValueError('OpenCLIPModel: init_cfg is not supported (the weights are set '
                                    'at construction); load weights with pretrained=<tag or path>')
        super().__init__(data_preprocessor=data_preprocessor)
        if (model_name is None) == (model_cfg is None):
            raise InvalidValueError('OpenCLIPModel: give exactly one of model_name (an open_clip '
                                    'architecture name) and model_cfg (an inline architecture '
                                    'dict)')
        if image_size is not None:
            image_size = _pair(image_size)
        checkpoint, tag = self._resolve_pretrained(pretrained, model_name)
        with _seeded(init_seed):
            if model_name is not None:
                self.clip = self._create_named(model_name, tag, image_size, context_length)
                tokenizer = open_clip.get_tokenizer(model_name,
                                                    context_length=self.clip.context_length)
            else:
                self.clip, tokenizer = self._create_inline(model_cfg, image_size, context_length)
        self.tokenizer = tokenizer
        self.model_name = model_name or 'custom'
        self.context_length = int(self.clip.context_length)

        preprocess = open_clip.get_model_preprocess_cfg(self.clip)
        self.image_size = _pair(preprocess['size'])
        mean = tuple(float(v) for v in (preprocess['mean'] if image_mean is None else image_mean))
        std = tuple(float(v) for v in (preprocess['std'] if image_std is None else image_std))
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise InvalidValueError('image_mean / image_std: expected 3 values each (std > 0), '
                                    f'got {mean} / {std}')
        self.register_buffer('pixel_mean', torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('pixel_std', torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.max_logit_scale = max_logit_scale

        self.image_embed = nn.Identity()
        self.text_embed = nn.Identity()
        self.logit_scale_out = nn.Identity()

        self._zs_classes: Optional[List[str]] = None
        self._zs_templates: Optional[List[Template]] = None
        self._classifier: Optional[Tensor] = None
        if zero_shot is not None:
            if not isinstance(zero_shot, dict) or set(zero_shot) != {'classes', 'templates'}:
                raise InvalidValueError('zero_shot: expected dict(classes=[...], '
                                        f'templates=[...]), got {zero_shot!r}')
            self.set_zero_shot(**zero_shot)
        if checkpoint is not None:
            self.load_pretrained(checkpoint)

    # ----------------------------------------------------------------------------- building
    @staticmethod
    def _resolve_pretrained(pretrained: Optional[str],
                            model_name: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
        """``(local checkpoint path, open_clip tag)``: at most one is not ``None``."""
        if pretrained is None:
            return None, None
        if not isinstance(pretrained, str) or not pretrained:
            raise WrongTypeError('pretrained: expected None, a tag or a file path, got '
                                 f'{pretrained!r}')
        if os.path.isfile(pretrained):
            return pretrained, None
        if _looks_like_path(pretrained):
            raise MissingFileError(f'pretrained: checkpoint file {pretrained!r} does not exist')
        if model_name is None:
            raise InvalidValueError(f'pretrained={pretrained!r} is neither an existing file nor '
                                    'usable as a tag: open_clip pretrained tags need model_name, '
                                    'not model_cfg')
        if ':' not in model_name and not open_clip.get_pretrained_cfg(model_name, pretrained):
            tags = open_clip.list_pretrained_tags_by_model(model_name)
            raise InvalidValueError(f'pretrained={pretrained!r} is neither an existing file nor a '
                                    f'pretrained tag of {model_name!r}; its tags: {tags}')
        return None, pretrained

    @staticmethod
    def _create_named(model_name: str, tag: Optional[str], image_size: Optional[Tuple[int, int]],
                      context_length: Optional[int]) -> nn.Module:
        kwargs = dict(pretrained=tag, force_image_size=image_size,
                      force_context_length=context_length, precision='fp32', device='cpu')
        if 'pretrained_text' in inspect.signature(open_clip.create_model).parameters:
            kwargs['pretrained_text'] = False  # no HF text weights download behind pretrained=None
        return open_clip.create_model(model_name, **kwargs)

    @staticmethod
    def _create_inline(model_cfg: dict, image_size: Optional[Tuple[int, int]],
                       context_length: Optional[int]) -> Tuple[nn.Module, Callable]:
        if not isinstance(model_cfg, dict) or \
                not {'embed_dim', 'vision_cfg', 'text_cfg'} <= set(model_cfg):
            raise InvalidValueError('model_cfg: expected dict(embed_dim=..., '
                                    f'vision_cfg=dict(...), text_cfg=dict(...)), got {model_cfg!r}')
        cfg = copy.deepcopy(dict(model_cfg))
        vision_cfg, text_cfg = dict(cfg['vision_cfg']), dict(cfg['text_cfg'])
        if 'multimodal_cfg' in cfg:
            raise InvalidValueError('model_cfg: CoCa (multimodal_cfg) is not supported, only '
                                    'contrastive CLIP models')
        if image_size is not None:
            vision_cfg['image_size'] = image_size
        if context_length is not None:
            text_cfg['context_length'] = context_length
        if 'hf_model_name' in text_cfg:
            text_cfg.setdefault('hf_model_pretrained', False)
        custom_text = cfg.pop('custom_text', False) or 'hf_model_name' in text_cfg
        cfg.update(vision_cfg=vision_cfg, text_cfg=text_cfg)
        model_class = open_clip.CustomTextCLIP if custom_text else open_clip.CLIP
        try:
            clip = model_class(**cfg)
        except TypeError as err:
            raise WrongTypeError(f'model_cfg: {err}') from None
        preprocess = asdict(PreprocessCfg())
        preprocess['size'] = getattr(clip.visual, 'image_size', preprocess['size'])
        open_clip.set_model_preprocess_cfg(clip, preprocess)
        length = clip.context_length
        kwargs = dict(text_cfg.get('tokenizer_kwargs') or {})
        if text_cfg.get('hf_tokenizer_name'):
            tokenizer = open_clip.tokenizer.HFTokenizer(
                text_cfg['hf_tokenizer_name'], context_length=length,
                tokenizer_mode=text_cfg.get('tokenizer_mode'), **kwargs)
        else:
            tokenizer = open_clip.SimpleTokenizer(context_length=length, **kwargs)
        return clip, tokenizer

    def init_weights(self) -> None:
        """Nothing: the weights are set at construction (seeded init or ``pretrained``)."""

    def load_pretrained(self, path: str) -> None:
        """Load a local checkpoint into ``self.clip`` (see ``pretrained`` in the class doc);
        :class:`~mmkd.fileio.CheckpointMismatchError` names the file and the first
        keys that do not fit."""
        where = f'{type(self).__name__}.pretrained'
        state_dict = load_state_dict_file(path, where)
        if all(k.startswith('module.') for k in state_dict):
            state_dict = {k[len('module.'):]: v for k, v in state_dict.items()}
        if state_dict and all(k.startswith('clip.') for k in state_dict):
            state_dict = {k[len('clip.'):]: v for k, v in state_dict.items()}
        state_dict = dict(state_dict)
        own = self.clip.state_dict()
        if set(own) == set(state_dict):
            self._resize_position_embeddings(state_dict, own)
        problems = state_dict_mismatch(state_dict, own)
        if problems:
            raise CheckpointMismatchError('\n'.join([
                f'{where}: checkpoint {str(path)!r} does not fit {self.model_name!r} (expected a '
                'raw open_clip state dict, or keys prefixed clip.):', *problems]))
        self.clip.load_state_dict(state_dict, strict=True)
        self._classifier = None

    def _resize_position_embeddings(self, state_dict: Dict[str, Tensor],
                                    own: Dict[str, Tensor]) -> None:
        """open_clip's own resizing, only where the embedding width matches (another size or
        context length of the same architecture); other mismatches are reported as such."""
        for key, resize in (('visual.positional_embedding', open_clip.model.resize_pos_embed),
                            ('positional_embedding', open_clip.model.resize_text_pos_embed),
                            ('text.positional_embedding', open_clip.model.resize_text_pos_embed)):
            if key in own and state_dict[key].shape != own[key].shape and \
                    state_dict[key].dim() == own[key].dim() == 2 and \
                    state_dict[key].shape[1] == own[key].shape[1]:
                resize(state_dict, self.clip)

    # ------------------------------------------------------------------------- zero-shot
    def set_zero_shot(self, classes: Sequence[str], templates: Sequence[Template]) -> None:
        """Set the zero-shot classes and prompt templates (strings with ``{}`` or callables,
        e.g. a dataset's ``metainfo``); the classifier is rebuilt when next needed."""
        classes, templates = list(classes), list(templates)
        if not classes or not all(isinstance(c, str) for c in classes):
            raise InvalidValueError('zero_shot.classes: expected a non-empty list of names, got '
                                    f'{classes!r}')
        if not templates:
            raise InvalidValueError('zero_shot.templates: expected at least one template')
        for template in templates:
            if not callable(template) and not (isinstance(template, str) and '{}' in template):
                raise InvalidValueError(f"zero_shot.templates: expected strings with '{{}}' (e.g. "
                                        f"'a photo of a {{}}.') or callables, got {template!r}")
        self._zs_classes, self._zs_templates = classes, templates
        self._classifier = None

    @property
    def zero_shot_classes(self) -> Optional[List[str]]:
        return self._zs_classes

    @torch.no_grad()
    def zero_shot_classifier(self) -> Tensor:
        """``[num_classes, D]``: per class, the normalised text embeddings of every template,
        averaged and renormalised (the CLIP recipe). Cached in eval mode; any ``train()`` /
        ``eval()`` call, weight load or ``.to()`` drops the cache, and train mode never caches."""
        if self._zs_classes is None:
            raise StateError(f'{type(self).__name__}: no zero-shot classes; pass '
                             'zero_shot=dict(classes=..., templates=...) or call set_zero_shot()')
        if self._classifier is not None and not self.training:
            return self._classifier
        templates = self._zs_templates
        per_chunk = max(1, _TEXTS_PER_CHUNK // len(templates))
        rows = []
        for start in range(0, len(self._zs_classes), per_chunk):
            names = self._zs_classes[start:start + per_chunk]
            texts = [t(name) if callable(t) else t.format(name) for name in names
                     for t in templates]
            embeds = self._text_features(texts).view(len(names), len(templates), -1)
            rows.append(F.normalize(embeds.mean(dim=1), dim=-1))
        classifier = torch.cat(rows)
        if not self.training:
            self._classifier = classifier
        return classifier

    def train(self, mode: bool = True) -> 'OpenCLIPModel':
        self._classifier = None
        return super().train(mode)

    def _apply(self, fn, *args, **kwargs):
        self._classifier = None
        return super()._apply(fn, *args, **kwargs)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._classifier = None
        super()._load_from_state_dict(*args, **kwargs)

    # ---------------------------------------------------------------------------- encoding
    def tokenize(self, texts: Union[str, Sequence[str]]) -> Tensor:
        """``LongTensor[B, context_length]`` from this model's own tokenizer, on its device."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not all(isinstance(t, str) for t in texts):
            kinds = sorted({type(t).__name__ for t in texts})
            raise WrongTypeError(f'text: expected a list of str, got items of type {kinds}')
        tokens = self.tokenizer(texts, context_length=self.context_length)
        return tokens.to(self.pixel_mean.device)

    def preprocess(self, images: Tensor) -> Tensor:
        """Resize ``[B, 3, H, W]`` images in [0, 1] to this model's size (bilinear, antialiased)
        and normalise them with its mean and std."""
        if not isinstance(images, Tensor) or images.dim() != 4 or images.size(1) != 3 or \
                not images.is_floating_point():
            got = (f'a {images.dtype} tensor of shape {tuple(images.shape)}'
                   if isinstance(images, Tensor) else type(images).__name__)
            raise InvalidValueError("inputs['image']: expected float images [B, 3, H, W] in [0, "
                                    "1], "
                                    f'got {got}')
        images = images.to(device=self.pixel_mean.device, dtype=self.pixel_mean.dtype)
        if tuple(images.shape[-2:]) != self.image_size:
            images = F.interpolate(images, size=self.image_size, mode='bilinear',
                                   align_corners=False, antialias=True)
        return (images - self.pixel_mean) / self.pixel_std

    def _image_features(self, images: Tensor) -> Tensor:
        return F.normalize(self.clip.encode_image(self.preprocess(images)), dim=-1)

    def _text_features(self, texts: Sequence[str]) -> Tensor:
        return F.normalize(self.clip.encode_text(self.tokenize(texts)), dim=-1)

    def encode_image(self, images: Tensor) -> Tensor:
        """L2-normalised image embeddings ``[B, D]`` of images in [0, 1] (any size)."""
        return self._image_features(images)

    def encode_text(self, texts: Union[str, Sequence[str]]) -> Tensor:
        """L2-normalised text embeddings ``[B, D]`` of captions."""
        return self._text_features([texts] if isinstance(texts, str) else texts)

    def logit_scale(self) -> Tensor:
        """The exponentiated logit scale (a scalar), clamped to ``max_logit_scale``."""
        log_scale = self.clip.logit_scale
        if self.max_logit_scale is not None:
            log_scale = log_scale.clamp(max=math.log(self.max_logit_scale))
        return log_scale.exp().reshape(())

    # ----------------------------------------------------------------------------- forward
    def forward(self, inputs: Dict[str, Any], data_samples: Optional[Dict[str, Any]] = None,
                mode: str = 'tensor') -> Any:
        if mode not in ('tensor', 'loss', 'predict'):
            raise InvalidValueError(f"mode: expected 'tensor', 'loss' or 'predict', got {mode!r}")
        if not isinstance(inputs, dict) or 'image' not in inputs:
            got = f'keys {sorted(inputs)}' if isinstance(inputs, dict) else type(inputs).__name__
            raise InvalidValueError('inputs: expected dict(image=FloatTensor[B, 3, H, W], '
                                    f'text=list[str]), got {got}')
        images, texts = inputs['image'], inputs.get('text')
        if texts is None and mode != 'predict':
            raise InvalidValueError(f"inputs['text']: mode {mode!r} needs the captions")
        if isinstance(texts, str):
            texts = [texts]
        if texts is not None and isinstance(images, Tensor) and len(texts) != len(images):
            raise InvalidValueError(f"inputs: {len(images)} images but {len(texts)} texts")
        image_embeds = self.image_embed(self._image_features(images))
        text_embeds = None if texts is None else self.text_embed(self._text_features(texts))
        logit_scale = self.logit_scale_out(self.logit_scale())
        if mode == 'tensor':
            return dict(image_embeds=image_embeds, text_embeds=text_embeds,
                        logit_scale=logit_scale)
        if mode == 'loss':
            if isinstance(data_samples, dict) and 'captioned' in data_samples:
                captioned = row_mask(data_samples['captioned'], len(image_embeds),
                                     "data_samples['captioned']", 'image', image_embeds.device)
                if int(captioned.sum()) < 2:  # no contrast without two pairs
                    return dict(loss_clip=0.0 * (image_embeds.sum() + text_embeds.sum()))
                image_embeds, text_embeds = image_embeds[captioned], text_embeds[captioned]
            return dict(loss_clip=clip_contrastive_loss(image_embeds, text_embeds, logit_scale))
        return self.predict(image_embeds, text_embeds, logit_scale, texts, data_samples)

    def predict(self, image_embeds: Tensor, text_embeds: Optional[Tensor], logit_scale: Tensor,
                texts: Optional[Sequence[str]] = None,
                data_samples: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        """One dict per sample: ``image_embeds`` ``[D]``; with captions ``text_embeds`` ``[D]``
        and ``text`` (the caption, for :class:`~mmkd.vlm.metrics.RetrievalRecall`); with
        zero-shot classes ``scores`` (``softmax(logit_scale * image @ classifier.T)``) and
        ``pred_label``; ``gt_label`` where ``data_samples['labels'] >= 0``; ``sample_idx`` when
        given."""
        results: List[Dict[str, Any]] = [dict(image_embeds=e) for e in image_embeds]
        if text_embeds is not None:
            for result, embed, text in zip(results, text_embeds, texts):
                result.update(text_embeds=embed, text=text)
        if self._zs_classes is not None:
            classifier = self.zero_shot_classifier().to(image_embeds.dtype)
            scores = (logit_scale * image_embeds @ classifier.t()).softmax(dim=-1)
            for result, score in zip(results, scores):
                result.update(scores=score, pred_label=score.argmax())
        if isinstance(data_samples, dict):
            for key, out in (('labels', 'gt_label'), ('sample_idx', 'sample_idx')):
                values = data_samples.get(key)
                if values is None:
                    continue
                for result, value in zip(results, values):
                    if out != 'gt_label' or int(value) >= 0:
                        result[out] = value
        return results
