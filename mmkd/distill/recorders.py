"""Recorders: forward hooks that capture what named modules output (or receive) in one forward.

A recorder is addressed by the module's ``named_modules()`` path, e.g. ``'backbone.layer2'`` or
``'head'``. Used as a context manager: hooks are live only inside ``with recorders:``.
"""
from typing import Any, Dict, Optional, Union

from torch import nn

from mmkd.errors import ConfigError, InvalidValueError, StateError, WrongTypeError


class ModuleRecorder:
    """Captures the output (``kind='output'``) or an input (``kind='input'``) of one module.

    Args:
        source: the module's path in ``model.named_modules()``.
        kind: ``'output'`` or ``'input'``.
        index: picks one element when the output (or the positional inputs) is a tuple or list.
            Inputs default to the first positional argument.
    """

    def __init__(self, source: str, kind: str = 'output', index: Optional[int] = None) -> None:
        if kind not in ('output', 'input'):
            raise InvalidValueError(f"recorder kind must be 'output' or 'input', got {kind!r}")
        self.source = source
        self.kind = kind
        self.index = 0 if (kind == 'input' and index is None) else index
        self.data: Any = None
        self._handle = None

    def attach(self, model: nn.Module, where: str) -> None:
        modules = dict(model.named_modules())
        if self.source not in modules:
            names = [name for name in modules if name]
            raise ConfigError(f'{where}: module {self.source!r} does not exist in '
                              f'{type(model).__name__}; its modules include {names[:20]}')
        self._module = modules[self.source]

    def _hook(self, module: nn.Module, inputs: tuple, output: Any) -> None:
        value = output if self.kind == 'output' else inputs
        if self.index is not None:
            value = value[self.index]
        self.data = value

    def start(self) -> None:
        self.data = None
        self._handle = self._module.register_forward_hook(self._hook)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None


RecorderCfg = Union[str, Dict[str, Any]]


class RecorderGroup:
    """The recorders of one model (the student or one teacher), by name.

    ``cfgs`` maps a name to a module path (records its output) or to
    ``dict(source=path, kind='output'|'input', index=None)``.
    """

    def __init__(self, model: nn.Module, cfgs: Dict[str, RecorderCfg], where: str) -> None:
        self.recorders: Dict[str, ModuleRecorder] = {}
        for name, cfg in cfgs.items():
            cfg = dict(source=cfg) if isinstance(cfg, str) else dict(cfg)
            try:
                recorder = ModuleRecorder(**cfg)
            except TypeError as err:
                raise WrongTypeError(f'{where}.{name}: {err}; expected a module path or '
                                     'dict(source=..., kind=..., index=...)') from None
            recorder.attach(model, f'{where}.{name}')
            self.recorders[name] = recorder

    def __enter__(self) -> 'RecorderGroup':
        for recorder in self.recorders.values():
            recorder.start()
        return self

    def __exit__(self, *exc) -> None:
        for recorder in self.recorders.values():
            recorder.stop()

    def get(self, name: str, where: str) -> Any:
        recorder = self.recorders[name]
        if recorder.data is None:
            raise StateError(f'{where}: module {recorder.source!r} was not called in the last '
                             f'forward pass, so recorder {name!r} holds nothing')
        return recorder.data


class ReplayedRecorderGroup:
    """Stands in for the :class:`RecorderGroup` of a model that is not run: its recordings are
    set for each batch from a teacher-output cache (see :mod:`mmkd.distill.cache`).

    ``cfgs`` are the recorder configs of that model; only their names are used here.
    """

    def __init__(self, cfgs: Dict[str, RecorderCfg]) -> None:
        self.recorders: Dict[str, RecorderCfg] = dict(cfgs)
        self.data: Dict[str, Any] = {}

    def set(self, values: Dict[str, Any]) -> None:
        """The recordings of the current batch, by recorder name."""
        self.data = dict(values)

    def __enter__(self) -> 'ReplayedRecorderGroup':
        return self

    def __exit__(self, *exc) -> None:
        return None

    def get(self, name: str, where: str) -> Any:
        if name not in self.data:
            raise StateError(f'{where}: no cached value for recorder {name!r} in this batch; the '
                             f'cache gave {sorted(self.data)}')
        return self.data[name]
