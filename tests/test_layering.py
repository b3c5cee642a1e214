"""The package's layers, bottom up, and the rule that no import in ``mmkd/`` runs up them (module
level or inside a function), nor reaches another package's private names."""
import ast
import os.path as osp
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / 'mmkd'
LAYERS = [
    ('version', 'errors', 'registry', 'fileio'),
    ('shared',),
    ('distill',),
    ('engine',),
    ('classification', 'pointcloud', 'vlm', 'diffusion'),
    ('crossmodal',),
    ('benchmark',),
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def mmkd_imports(path: Path, root: Path) -> Iterator[Tuple[int, str, List[str]]]:
    """``(line, imported module, imported names)`` of every import of mmkd in a file."""
    module = module_name(path, root).split('.')
    package = module if path.name == '__init__.py' else module[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] == 'mmkd':
                    yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            if target.split('.')[0] == 'mmkd':
                yield node.lineno, target, [alias.name for alias in node.names]


def top_part(module: str) -> str:
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else ''


def layering_violations(root: Path = PACKAGE) -> List[str]:
    found = []
    for path in sorted(root.rglob('*.py')):
        here = top_part(module_name(path, root))
        if here not in RANK:
            if here:
                found.append(f'{path}: package mmkd.{here} has no layer in LAYERS')
            continue
        for line, target, names in sorted(mmkd_imports(path, root)):
            there = top_part(target)
            if there and there not in RANK:
                # ``from mmkd import fileio``: the name is the package part
                there = names[0] if len(names) == 1 and names[0] in RANK else there
            if there in RANK and RANK[there] > RANK[here]:
                found.append(f'{path}:{line}: mmkd.{here} (layer {RANK[here]}) imports '
                             f'{target} (layer {RANK[there]}), above it')
            private = [n for n in names if n.startswith('_') and not n.startswith('__')]
            if private and there != here:
                found.append(f'{path}:{line}: imports private names {private} of {target}')
    return found


def test_no_import_runs_up_the_layers():
    assert layering_violations() == []


def test_the_check_sees_an_upward_and_a_private_import(tmp_path):
    package = tmp_path / 'mmkd'
    (package / 'distill').mkdir(parents=True)
    (package / '__init__.py').write_text('')
    (package / 'distill' / '__init__.py').write_text('')
    (package / 'distill' / 'core.py').write_text(
        'def f():\n    from mmkd.engine.runner import build_runner\n'
        'from mmkd.shared.classifier import _hidden\nfrom ..fileio import atomic_write_bytes\n')
    found = layering_violations(package)
    assert len(found) == 2, found
    assert 'core.py:2: mmkd.distill (layer 2) imports mmkd.engine.runner (layer 3)' in found[0]
    assert "core.py:3: imports private names ['_hidden'] of mmkd.shared.classifier" in found[1]


@pytest.mark.parametrize('part', sorted(p.name for p in PACKAGE.iterdir()
                                        if p.is_dir() and (p / '__init__.py').exists()))
def test_every_package_has_a_layer(part):
    assert part in RANK, f'add mmkd/{part} to LAYERS in {osp.basename(__file__)}'
