"""Helpers the test files share, imported as ``from conftest import ...`` (pytest runs with
``--import-mode=importlib``, so this folder is put on ``sys.path`` here)."""
import os.path as osp
import sys
from typing import Any, Callable

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
