"""A hook that records what each rank saw and ends with, for the distributed training test.

Loaded through ``custom_imports = dict(imports=['rank_dump_hook'], allow_failed_imports=False)``
with this folder on ``PYTHONPATH``. At ``after_run`` every rank writes
``<work_dir>/rank{rank}.pth`` holding plain data only (loadable with ``weights_only=True``).
"""
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmkd.registry import HOOKS


@HOOKS.register_module()
class RankDumpHook(Hook):
    """Save each rank's final model state, the model wrapper's type, the sample indices of the
    first training batch and the loss names of the first iteration."""

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self.first_sample_idx = None
        self.first_loss_keys = None

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if self.first_sample_idx is None:
            sample_idx = data_batch['data_samples']['sample_idx']
            self.first_sample_idx = [int(i) for i in sample_idx]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.first_loss_keys is None:
            self.first_loss_keys = sorted(outputs or {})

    def after_run(self, runner) -> None:
        model = runner.model
        module = model.module if is_model_wrapper(model) else model
        state_dict = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        torch.save(dict(
            rank=runner.rank,
            world_size=runner.world_size,
            wrapper=type(model).__name__,
            wrapper_mro=[cls.__name__ for cls in type(model).__mro__],
            state_dict=state_dict,
            parameter_names=[name for name, _ in module.named_parameters()],
            first_sample_idx=self.first_sample_idx,
            first_loss_keys=self.first_loss_keys,
        ), osp.join(runner.work_dir, f'rank{runner.rank}.pth'))
