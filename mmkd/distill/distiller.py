"""The distiller: recorders on named models, connectors, and losses fed by a validated mapping.

Config (all keys optional but ``losses``)::

    distiller = dict(
        recorders=dict(                         # per model: recorder name -> module path
            student=dict(logits='head', feat='backbone.layer3'),
            teacher=dict(logits='head', feat=dict(source='backbone.layer3', kind='output'))),
        connectors=dict(                        # trainable, student side, dropped at export
            feat_s=dict(type='ConvConnector', in_channels=16, out_channels=64)),
        losses=dict(
            loss_kd=dict(type='KDLoss', temperature=4.0, loss_weight=1.0,
                         inputs=dict(student_logits='student.logits',
                                     teacher_logits='teacher.logits')),
            loss_fitnet=dict(type='FeatureMSELoss', loss_weight=0.5,
                             inputs=dict(student_feats=dict(source='student.feat',
                                                            connector='feat_s'),
                                         teacher_feats='teacher.feat')),
            loss_dkd=dict(type='DKDLoss', inputs=dict(student_logits='student.logits',
                                                      teacher_logits='teacher.logits',
                                                      labels='batch.labels'))))

A loss input is ``'<model>.<recorder>'``, ``'batch.<field>'`` (a field of the batch's
``data_samples``), ``dict(source=..., connector=...)``, or a list of those (multi-teacher losses).
The mapping is checked against each loss's ``forward`` signature when the distiller is built.
"""
import inspect
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

import torch
from mmengine.registry import build_from_cfg
from torch import Tensor, nn

from mmkd.errors import ConfigError, InvalidValueError, MMKDError, WrongTypeError
from mmkd.registry import LOSSES, MODELS
from .recorders import RecorderGroup, ReplayedRecorderGroup

InputRef = Union[str, Dict[str, str], List[Any]]


class Distiller(nn.Module):
    """Computes the ``distill.*`` losses from what the recorders captured.

    Args:
        models: the named models the recorders attach to (``'student'``, teacher names, or
            peer names in mutual learning). They are not owned (not submodules) here.
        recorders, connectors, losses: see the module docstring.
        float_models: models whose recorded floating tensors are cast to float32 (teachers run
            in half precision).
        replayed: names of models that are not run: their recordings are set for each batch
            with :meth:`replay` (from a teacher-output cache) instead of captured by hooks.
        where: the config key of this distiller, used in error messages.
    """

    def __init__(self,
                 models: Mapping[str, nn.Module],
                 losses: Dict[str, dict],
                 recorders: Optional[Dict[str, dict]] = None,
                 connectors: Optional[Dict[str, dict]] = None,
                 float_models: tuple = (),
                 replayed: tuple = (),
                 where: str = 'model.distiller') -> None:
        super().__init__()
        self.where = where
        recorders = recorders or {}
        for owner in recorders:
            if owner not in models and owner not in replayed:
                raise ConfigError(f'{where}.recorders.{owner}: no model named {owner!r}; models '
                                  f'are {sorted(set(models) | set(replayed))}')
        self.recorder_groups: Dict[str, Union[RecorderGroup, ReplayedRecorderGroup]] = {
            owner: ReplayedRecorderGroup(cfgs) if owner in replayed
            else RecorderGroup(models[owner], cfgs, f'{where}.recorders.{owner}')
            for owner, cfgs in recorders.items()
        }
        self.float_models = set(float_models)
        self.connectors = nn.ModuleDict({
            name: MODELS.build(cfg) for name, cfg in (connectors or {}).items()})
        self.losses = nn.ModuleDict()
        self.loss_inputs: Dict[str, Dict[str, InputRef]] = {}
        self.loss_weights: Dict[str, float] = {}
        self.output_keys: Dict[str, str] = {}  # loss name -> key in the returned dict
        self._compiled_inputs: Dict[str, List[Tuple[str, Any]]] = {}
        self._shape_pairs: Dict[str, Tuple[Tuple[str, str], ...]] = {}
        for name, cfg in losses.items():
            self._add_loss(name, dict(cfg))

    def _add_loss(self, name: str, cfg: dict) -> None:
        where = f'{self.where}.losses.{name}'
        # MMEngine sums the logged values whose key contains 'loss'
        key = f"distill.{name if 'loss' in name else f'loss_{name}'}"
        taken = {v: k for k, v in self.output_keys.items()}
        if key in taken:
            raise ConfigError(f'{where}: its output key {key!r} is already used by loss '
                              f'{taken[key]!r}; rename one of them')
        self.output_keys[name] = key
        inputs = cfg.pop('inputs', None)
        self.loss_weights[name] = float(cfg.pop('loss_weight', 1.0))
        if not self.loss_weights[name] >= 0:
            raise InvalidValueError(f'{where}.loss_weight: must be >= 0, got '
                                    f'{self.loss_weights[name]}')
        if 'type' not in cfg:
            raise ConfigError(f'{where}: missing "type" (a loss name, e.g. "KDLoss")')
        loss_type = cfg['type']
        if isinstance(loss_type, str) and LOSSES.get(loss_type) is None:
            raise ConfigError(f'{where}.type: unknown loss {loss_type!r}; registered losses: '
                              f'{sorted(LOSSES.module_dict)}')
        try:
            loss = build_from_cfg(cfg, LOSSES)
        except TypeError as err:
            raise WrongTypeError(f'{where}: cannot build {loss_type}: {err}') from None
        except MMKDError as err:  # a value the loss refuses: say which config key holds it
            raise type(err)(f'{where}: {err}') from None
        if not isinstance(inputs, dict) or not inputs:
            raise ConfigError(f'{where}.inputs: expected a dict mapping the arguments of '
                              f'{type(loss).__name__}.forward to recorded tensors or batch fields')
        params = inspect.signature(loss.forward).parameters
        for arg in inputs:
            if arg not in params:
                raise ConfigError(f'{where}.inputs.{arg}: {type(loss).__name__}.forward has no '
                                  f'argument {arg!r}; its arguments are {list(params)}')
        for arg, param in params.items():
            if param.default is inspect.Parameter.empty and arg not in inputs:
                raise ConfigError(f'{where}.inputs: required argument {arg!r} of '
                                  f'{type(loss).__name__}.forward is not mapped')
        for arg, ref in inputs.items():
            self._check_ref(ref, f'{where}.inputs.{arg}')
        self.losses[name] = loss
        self.loss_inputs[name] = dict(inputs)
        # resolved once here, so that a step only reads the tensors
        self._compiled_inputs[name] = [(arg, self._compile(ref, f'{where}.inputs.{arg}'))
                                       for arg, ref in inputs.items()]
        self._shape_pairs[name] = tuple(getattr(loss, 'shape_pairs', ()))

    def _check_ref(self, ref: InputRef, where: str) -> None:
        if isinstance(ref, (list, tuple)):
            for i, item in enumerate(ref):
                self._check_ref(item, f'{where}[{i}]')
            return
        if isinstance(ref, dict):
            unknown = set(ref) - {'source', 'connector'}
            if unknown or 'source' not in ref:
                raise ConfigError(f'{where}: expected dict(source=..., connector=...), got keys '
                                  f'{sorted(ref)}')
            connector = ref.get('connector')
            if connector is not None and connector not in self.connectors:
                raise ConfigError(f'{where}.connector: no connector named {connector!r}; '
                                  f'connectors are {sorted(self.connectors)}')
            ref = ref['source']
        if not isinstance(ref, str) or '.' not in ref:
            raise ConfigError(f"{where}: expected '<model>.<recorder>' or 'batch.<field>', "
                              f'got {ref!r}')
        owner, name = ref.split('.', 1)
        if owner == 'batch':
            return
        if owner not in self.recorder_groups:
            raise ConfigError(f'{where}: {ref!r} names no recorded model; models with recorders '
                              f'are {sorted(self.recorder_groups)} (or use batch.<field>)')
        if name not in self.recorder_groups[owner].recorders:
            raise ConfigError(f'{where}: {ref!r} names no recorder; {owner!r} records '
                              f'{sorted(self.recorder_groups[owner].recorders)}')

    def recording(self, owner: str) -> RecorderGroup:
        """Context manager recording the named model's tensors (a no-op group if it has none)."""
        return self.recorder_groups.get(owner) or _EMPTY_GROUP

    def replay(self, owner: str, values: Dict[str, Any]) -> None:
        """Set the recordings of a ``replayed`` model for the current batch."""
        group = self.recorder_groups.get(owner)
        if not isinstance(group, ReplayedRecorderGroup):
            raise ConfigError(f'{self.where}: {owner!r} is not a replayed model')
        group.set(values)

    def _compile(self, ref: InputRef, where: str) -> Any:
        """A checked reference as what a step needs to read it: a :class:`_Input`, or a list."""
        if isinstance(ref, (list, tuple)):
            return [self._compile(item, f'{where}[{i}]') for i, item in enumerate(ref)]
        connector = None
        if isinstance(ref, dict):
            connector = ref.get('connector')
            ref = ref['source']
        owner, name = ref.split('.', 1)
        if owner == 'batch':
            return _Input(owner, name, None, None if connector is None else
                          self.connectors[connector], False, where)
        return _Input(owner, name, self.recorder_groups[owner],
                      None if connector is None else self.connectors[connector],
                      owner in self.float_models, f'{where} ({ref!r})')

    def resolve(self, ref: InputRef, batch: Any = None) -> Any:
        """The value a loss input reference has now (a tensor, a batch field, or a list)."""
        self._check_ref(ref, f'{self.where}.resolve')
        return _read(self._compile(ref, f'{self.where}.resolve'), batch)

    def compute_losses(self, batch: Any = None) -> Dict[str, Tensor]:
        """Run every loss on the recorded tensors; returns ``{'distill.<name>': value}``."""
        results = {}
        for name, loss in self.losses.items():
            kwargs = {arg: _read(ref, batch) for arg, ref in self._compiled_inputs[name]}
            for arg_a, arg_b in self._shape_pairs[name]:
                a, b = kwargs.get(arg_a), kwargs.get(arg_b)
                if torch.is_tensor(a) and torch.is_tensor(b) and a.shape != b.shape:
                    raise InvalidValueError(
                        f'{self.where}.losses.{name}: {arg_a} '
                        f'({_describe(self.loss_inputs[name][arg_a])}, shape {tuple(a.shape)}) '
                        f'and {arg_b} ({_describe(self.loss_inputs[name][arg_b])}, shape '
                        f'{tuple(b.shape)}) must have the same shape; add a connector that '
                        'maps the student tensor to the teacher shape')
            results[self.output_keys[name]] = self.loss_weights[name] * loss(**kwargs)
        return results


class _Input(NamedTuple):
    """One loss input, resolved when the distiller is built: where to read it each step."""
    owner: str                     # a model name, or 'batch'
    name: str                      # its recorder, or the batch field
    group: Any                     # the owner's recorder group (None for the batch)
    connector: Optional[nn.Module]
    to_float32: bool               # recorded in half precision
    where: str                     # the config key, for errors


def _read(ref: Any, batch: Any) -> Any:
    if isinstance(ref, list):
        return [_read(item, batch) for item in ref]
    if ref.group is None:
        value = _batch_field(batch, ref.name, ref.where)
    else:
        value = ref.group.get(ref.name, ref.where)
        if ref.to_float32 and torch.is_tensor(value) and value.is_floating_point():
            value = value.float()
    return value if ref.connector is None else ref.connector(value)


def _describe(ref: InputRef) -> str:
    if isinstance(ref, dict):
        return f"{ref['source']!r} through connector {ref.get('connector')!r}"
    return repr(ref)


def _batch_field(batch: Any, name: str, where: str) -> Any:
    if isinstance(batch, Mapping):
        if name in batch:
            return batch[name]
        available = sorted(batch)
    elif hasattr(batch, name):
        return getattr(batch, name)
    else:
        available = [k for k in dir(batch) if not k.startswith('_')]
    raise ConfigError(f'{where}: the batch has no field {name!r}; its fields are {available}')


class _EmptyGroup:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


_EMPTY_GROUP = _EmptyGroup()
