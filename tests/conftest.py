"""Helpers the test files share, imported as ``from conftest import ...`` (pytest runs with
``--import-mode=importlib``, so this folder is put on ``sys.path`` here)."""
import contextlib
import io
import os.path as osp
import sys
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

TESTS = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(TESTS)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)

# The smallest diffusers UNet2DModel the diffusion tests train, export and sample with.
TINY_UNET = dict(sample_size=8, block_out_channels=(8, 16), norm_num_groups=4)


def randn(*shape: int, seed: int = 0) -> Tensor:
    """Seeded float64 normal samples: golden values do not depend on the global RNG."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def assert_gradient_reaches_student_only(loss: Callable[..., Tensor], student: Tensor,
                                         teacher: Any, *args: Any) -> Tensor:
    """Backpropagate ``loss(student, teacher, *args)`` (``teacher`` a tensor or a list of them)
    and check that the student gets a finite, nonzero gradient and no teacher gets any (the
    losses detach their teachers). Returns the student's gradient."""
    student.requires_grad_()
    teachers = teacher if isinstance(teacher, (list, tuple)) else [teacher]
    for t in teachers:
        t.requires_grad_()
    loss(student, teacher, *args).backward()
    assert student.grad is not None and torch.isfinite(student.grad).all()
    assert student.grad.abs().sum() > 0
    assert all(t.grad is None for t in teachers)
    return student.grad


def run_reduced_experiment(experiment: str, tmp: Any, options_for: Callable[[dict], dict],
                           names: Optional[Sequence[str]] = None
                           ) -> Tuple[Any, Dict[str, dict]]:
    """Run the runs (all, or those in ``names``) of a real experiment config once each, unseeded,
    each with ``options_for(run)`` added to its options (a tiny budget, files under the
    ``pathlib`` folder ``tmp``). Returns the experiment config and the results by run name."""
    from mmengine.config import Config
    from mmkd.engine.experiment import run_experiment
    exp = Config.fromfile(experiment)
    runs = [dict(run.to_dict(), config=osp.join(REPO, run['config']),
                 cfg_options={**(run.get('cfg_options') or {}), **options_for(run)},
                 seeds=None, work_dir=None)
            for run in exp.runs if names is None or run['name'] in names]
    config = tmp / 'exp.py'
    config.write_text(f"metric = {exp.get('metric', 'accuracy/top1')!r}\nruns = {runs!r}\n")
    with contextlib.redirect_stdout(io.StringIO()):
        outcome = run_experiment(str(config), str(tmp / 'work'))
    return exp, {r['name']: r for r in outcome['results']}
