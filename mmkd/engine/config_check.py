"""Checks of a config before MMEngine builds anything from it: syntax errors named by file and
line (in the config or any of its ``_base_`` files), and misspelt keys named with the closest
valid one (``trian_cfg`` -> ``train_cfg``, ``train_cfg.max_epoch`` -> ``max_epochs``)."""
import ast
import difflib
import os.path as osp
from typing import Any, Dict, Iterable, Optional

from mmkd.errors import ConfigError, InvalidValueError

# what Runner.from_cfg reads, plus what mmkd's tools add
RUNNER_KEYS = ('model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader',
               'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper',
               'param_scheduler', 'val_evaluator', 'test_evaluator', 'default_hooks',
               'custom_hooks', 'data_preprocessor', 'load_from', 'resume', 'launcher', 'env_cfg',
               'log_processor', 'log_level', 'visualizer', 'default_scope', 'randomness',
               'experiment_name', 'model_wrapper_cfg', 'vis_backends', 'find_unused_parameters')
LOOP_KEYS = dict(
    train_cfg=('type', 'by_epoch', 'max_epochs', 'max_iters', 'val_begin', 'val_interval',
               'dynamic_intervals'),
    val_cfg=('type', 'fp16'),
    test_cfg=('type', 'fp16'))
STOCK_LOOPS = (None, 'EpochBasedTrainLoop', 'IterBasedTrainLoop', 'ValLoop', 'TestLoop')


def closest(name: str, candidates: Iterable[str], cutoff: float = 0.8) -> Optional[str]:
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return found[0] if found else None


def syntax_error(path: str, seen: Optional[set] = None) -> Optional[InvalidValueError]:
    """The syntax error of ``path`` or of one of its ``_base_`` files, naming file and line."""
    seen = set() if seen is None else seen
    path = osp.abspath(path)
    if path in seen or not osp.isfile(path):
        return None
    seen.add(path)
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        tree = ast.parse(text, path)
    except SyntaxError as err:
        return InvalidValueError(f'{path}:{err.lineno}: syntax error: {err.msg}')
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == '_base_' for t in node.targets):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                continue
            for base in [bases] if isinstance(bases, str) else bases:
                found = syntax_error(osp.join(osp.dirname(path), base), seen)
                if found is not None:
                    return found
    return None


def check_option_keys(cfg: Any, options: Dict[str, Any]) -> None:
    """Refuse a ``--cfg-options`` key whose first part misspells a top-level key of the config or
    of MMEngine's runner (``trian_cfg.max_epochs`` -> ``train_cfg``). Deeper new keys are let
    through: adding a keyword (``model.teachers.teacher.mode``) is what the option is for, and the
    builder that takes the dict refuses one it does not know, or ``check_config_keys`` does."""
    for key in options:
        top = key.split('.')[0]
        if top in cfg:
            continue
        guess = closest(top, list(cfg.keys()) + list(RUNNER_KEYS), cutoff=0.75)
        if guess is not None:
            raise ConfigError(f'--cfg-options {key}: the config has no {top!r}; did you mean '
                              f'{guess!r}?')


def check_config_keys(cfg: Any) -> None:
    """Refuse top-level keys that misspell one MMEngine's runner reads, and loop settings its
    loops do not take (``train_cfg.max_epoch``), naming the closest valid key."""
    for key in cfg.keys():
        if key not in RUNNER_KEYS and not key.startswith('_'):
            guess = closest(key, RUNNER_KEYS, cutoff=0.85)
            if guess is not None and guess not in cfg:
                raise ConfigError(f'config key {key!r} is not one MMEngine reads; did you mean '
                                  f'{guess!r}?')
    for name, valid in LOOP_KEYS.items():
        loop = cfg.get(name)
        if not isinstance(loop, dict) or loop.get('type') not in STOCK_LOOPS:
            continue
        for key in loop:
            if key not in valid:
                guess = closest(key, valid, cutoff=0.6)
                hint = f'; did you mean {guess!r}?' if guess else f'; valid keys: {list(valid)}'
                raise ConfigError(f'{name}.{key}: not a setting of the loop{hint}')
