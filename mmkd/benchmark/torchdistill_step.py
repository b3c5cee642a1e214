"""The same KD training step in torchdistill, for ``tools/benchmark.py kd-overhead --torchdistill``.

torchdistill is not an mmkd dependency. It lives in its own folder that only this benchmark puts
on ``sys.path`` (``make bench-deps`` installs it there, without touching ``.venv``)::

    pip install --target work_dirs/bench/torchdistill-site --no-deps torchdistill==1.1.5

The step is torchdistill's own ``DistillationBox`` (``forward_process`` then
``post_forward_process``: teacher under ``no_grad``, student, loss, backward, optimizer step)
around the very teacher and student modules of an mmkd ``Distill`` algorithm, with forward hooks
on the modules mmkd records and torchdistill's ``KDLoss`` at the same temperature and weights as
mmkd's Hinton KD (cross-entropy + T^2 KL).
"""
import os
import sys
from typing import Callable

import torch
from torch import Tensor, nn

from mmkd.errors import MissingPackageError

TORCHDISTILL_SITE = os.path.join('work_dirs', 'bench', 'torchdistill-site')
INSTALL_HINT = (f'pip install --target {TORCHDISTILL_SITE} --no-deps torchdistill==1.1.5 '
                '(or: make bench-deps)')


def import_torchdistill(site: str = TORCHDISTILL_SITE):
    """torchdistill from ``site`` (or anywhere it is already importable)."""
    if os.path.isdir(site) and os.path.abspath(site) not in sys.path:
        sys.path.insert(0, os.path.abspath(site))
    try:
        import torchdistill
    except ImportError as e:
        raise MissingPackageError('--torchdistill: torchdistill is not installed; '
                                  f'{INSTALL_HINT}') from e
    return torchdistill


class _LogitsOnly(nn.Module):
    """torchdistill calls ``model(batch)``; mmkd models take ``(inputs, data_samples, mode)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: Tensor) -> Tensor:
        return self.model(inputs, None, mode='tensor')


def torchdistill_kd_step(teacher: nn.Module, student: nn.Module, logits_module: str,
                         temperature: float, beta: float = 1.0, lr: float = 1e-3,
                         site: str = TORCHDISTILL_SITE) -> Callable[[Tensor, Tensor], Tensor]:
    """A ``step(inputs, labels) -> loss`` that runs one torchdistill KD training step:
    ``CE + beta * T^2 * KL`` (mmkd's student loss plus ``KDLoss`` with ``loss_weight=beta``).

    ``logits_module`` is the path (in both networks) of the module whose output is the logits,
    as in mmkd's recorder config (e.g. ``'head'``).
    """
    import_torchdistill(site)
    from torchdistill.core.distillation import DistillationBox

    teacher.eval()
    path = f'model.{logits_module}'
    hooks = dict(forward_hook=dict(input=[], output=[path]), forward_proc='forward_batch_only')
    train_config = dict(
        num_epochs=1,
        teacher=dict(hooks, requires_grad=False),
        student=dict(hooks, requires_grad=True),
        optimizer=dict(key='SGD', kwargs=dict(lr=lr, momentum=0.9)),
        criterion=dict(key='WeightedSumLoss', kwargs=dict(sub_terms=dict(kd=dict(
            criterion=dict(key='KDLoss', kwargs=dict(
                student_module_path=path, student_module_io='output',
                teacher_module_path=path, teacher_module_io='output',
                temperature=temperature, alpha=1.0, beta=beta)),
            weight=1.0)))))
    box = DistillationBox(_LogitsOnly(teacher), _LogitsOnly(student), dataset_dict={},
                          train_config=train_config, device=torch.device('cpu'),
                          device_ids=None, distributed=False, lr_factor=1)
    box.pre_epoch_process(epoch=0)

    def step(inputs: Tensor, labels: Tensor) -> Tensor:
        loss = box.forward_process(inputs, labels)
        box.post_forward_process(loss)
        return loss.detach()

    return step
