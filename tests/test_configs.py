"""Every config in configs/ loads and names types its registries know, and every experiment's
runs point at configs that exist: a typo fails here, not an hour into an experiment."""
import inspect
import os.path as osp
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import REPO
from mmkd.registry import DATASETS, HOOKS, LOSSES, METRICS, MODELS
from mmkd.shared.pretrained import import_attribute, is_pretrained_source

CONFIGS = Path(REPO) / 'configs'
RUN_CONFIGS = sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob('*.py')
                     if p.parts[len(CONFIGS.parts)] not in ('_base_', 'experiments'))
EXPERIMENTS = sorted(p.name for p in (CONFIGS / 'experiments').glob('*.py'))


def nested_types(cfg, key):
    """The ``type`` of ``cfg[key]`` and of every ``dataset``/``dataset.dataset`` it wraps."""
    found, node = [], cfg.get(key)
    while isinstance(node, dict) and 'type' in node:
        found.append(node['type'])
        node = node.get('dataset')
    return found


def assert_registered(registry, name, where):
    if isinstance(name, str):
        assert registry.get(name) is not None, f'{where}: {name!r} is not in {registry.name}'


@pytest.mark.parametrize('name', RUN_CONFIGS)
def test_config_names_registered_types(name):
    init_default_scope('mmkd')
    cfg = Config.fromfile(str(CONFIGS / name))
    assert_registered(MODELS, cfg.model.type, f'{name}: model.type')
    if isinstance(cfg.model.get('student'), dict):
        assert_registered(MODELS, cfg.model.student.get('type'), f'{name}: model.student.type')
    for teacher, spec in (cfg.model.get('teachers') or {}).items():
        where = f'{name}: model.teachers.{teacher}'
        if 'model' not in spec:  # the student's EMA
            continue
        if is_pretrained_source(spec['model']):  # another library's: its factory imports
            if 'factory' in spec['model']:
                import_attribute(spec['model']['factory'], where)
        else:
            assert_registered(MODELS, spec['model']['type'], where)
            assert_arguments_accepted(spec['model'], where)
    for loss, spec in ((cfg.model.get('distiller') or {}).get('losses') or {}).items():
        assert_registered(LOSSES, spec['type'], f'{name}: model.distiller.losses.{loss}')
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader is not None:
            for dataset in nested_types(loader, 'dataset'):
                assert_registered(DATASETS, dataset, f'{name}: {split}_dataloader.dataset')
        evaluator = cfg.get(f'{split}_evaluator')
        for metric in evaluator if isinstance(evaluator, list) else [evaluator]:
            if isinstance(metric, dict):
                assert_registered(METRICS, metric['type'], f'{name}: {split}_evaluator')
    for hook, spec in (cfg.get('default_hooks') or {}).items():
        if isinstance(spec, dict):
            assert_registered(HOOKS, spec['type'], f'{name}: default_hooks.{hook}')
    for spec in cfg.get('custom_hooks') or []:
        assert_registered(HOOKS, spec['type'], f'{name}: custom_hooks')


@pytest.mark.parametrize('name', EXPERIMENTS)
def test_experiment_runs_point_at_configs(name):
    init_default_scope('mmkd')
    exp = Config.fromfile(str(CONFIGS / 'experiments' / name))
    names = [run['name'] for run in exp.runs]
    assert len(set(names)) == len(names), f'{name}: run names repeat: {names}'
    for i, run in enumerate(exp.runs):
        assert osp.isfile(osp.join(REPO, run['config'])), f"{name}: runs[{i}].config"
        assert '/' not in run['name'], f'{name}: runs[{i}].name'
        if run.get('teacher_from'):
            assert run['teacher_from'] in names[:i], \
                f"{name}: runs[{i}].teacher_from {run['teacher_from']!r} is not an earlier run"
        if run.get('cfg_options'):
            cfg = Config.fromfile(osp.join(REPO, run['config']))
            for option in run['cfg_options']:
                assert option_exists(cfg, option), f'{name}: runs[{i}].cfg_options {option!r}'


def option_exists(cfg, option: str) -> bool:
    """Whether an option names a key of the config (``a.b.0.c``: ``a.b[0].c``), or a new key of
    a node whose registered class takes it as an argument (a parameter left at its default)."""
    node, *parents_and_key = [cfg.to_dict(), *option.split('.')]
    *parents, key = parents_and_key
    for part in parents:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    if isinstance(node, list):
        return key.isdigit() and int(key) < len(node)
    if not isinstance(node, dict):
        return False
    if key in node:
        return True
    cls = registered_class(node.get('type'))
    return cls is not None and key in inspect.signature(cls).parameters


def assert_arguments_accepted(node: dict, where: str) -> None:
    """Every key of a registered model's config is an argument of its class (a key left over
    from a ``_base_`` teacher of another type fails here, not when the teacher is built)."""
    cls = registered_class(node.get('type'))
    parameters = inspect.signature(cls).parameters
    if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(set(node) - {'type', '_delete_'} - set(parameters))
    assert not unknown, f'{where}: {node["type"]} takes no {unknown}'


def registered_class(name):
    for registry in (MODELS, DATASETS, LOSSES, METRICS, HOOKS):
        if isinstance(name, str) and registry.get(name) is not None:
            return registry.get(name)
    return None
