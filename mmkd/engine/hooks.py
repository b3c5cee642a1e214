"""Hooks of mmkd's runs: reproducible epochs, training that stops when it goes non-finite,
checkpoints that a kill cannot break, and distillation losses warmed up over the first epochs."""
import math
import os.path as osp
from typing import Any, Dict, Optional

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import set_random_seed

from mmkd.errors import ConfigError, StateError
from mmkd.fileio import atomic_write_bytes
from mmkd.registry import HOOKS


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Re-seed python, numpy and torch from ``(seed, epoch[, rank])`` when each epoch starts.

    MMEngine saves the seed but not the random state, so without this a resumed run draws other
    augmentations than an uninterrupted one. With it, an epoch's randomness does not depend on
    whether the run was resumed.
    """

    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        if runner.seed is None:
            return
        seed = runner.seed + runner.epoch
        if runner._randomness_cfg.get('diff_rank_seed', False):
            seed += runner.rank * 100003
        set_random_seed(seed % 2**32)


@HOOKS.register_module()
class FiniteTrainingHook(Hook):
    """Stop training when it goes non-finite, before anything non-finite is saved.

    After each iteration, a non-finite loss term ends the run with a
    :class:`~mmkd.errors.StateError` naming the iteration, the terms and the last good
    checkpoint; before each checkpoint is written, a non-finite weight does the same, so the
    latest checkpoint (and ``last_checkpoint``) stays the last good one. ``tools/train.py`` and
    the experiment runner add it to every run (:func:`mmkd.engine.runner.build_runner`).
    """

    priority = 'VERY_HIGH'

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[Dict[str, Any]] = None) -> None:
        values = {key: value.item() if torch.is_tensor(value) else value
                  for key, value in (outputs or {}).items()
                  if isinstance(value, float) or torch.is_tensor(value) and value.numel() == 1}
        bad = {key: value for key, value in values.items() if not math.isfinite(value)}
        if bad:
            raise StateError(f'training went non-finite at iteration {runner.iter + 1} (epoch '
                             f'{runner.epoch + 1}): {bad}; last good checkpoint: '
                             f'{_last_checkpoint(runner.work_dir)}')

    def before_save_checkpoint(self, runner, checkpoint: Dict[str, Any]) -> None:
        bad = [key for key, value in checkpoint.get('state_dict', {}).items()
               if torch.is_tensor(value) and value.is_floating_point()
               and not bool(torch.isfinite(value).all())]
        if bad:
            raise StateError(f'training went non-finite by iteration {runner.iter} (epoch '
                             f'{runner.epoch + 1}): weights {bad[:5]} are not finite; not saved; last '
                             f'good checkpoint: {_last_checkpoint(runner.work_dir)}')


@HOOKS.register_module()
class LossWarmupHook(Hook):
    """Ramp distillation losses in linearly from 0 to their ``loss_weight`` over their first
    epochs, as DKD does (Zhao et al. 2022: over 20 of 240 epochs on CIFAR-100): a strong
    distillation term on a student that is still random swamps the labels.

    Args:
        losses: loss name in ``model.distiller.losses`` -> warmup length in epochs (fractions
            allowed). The weight at iteration ``i`` (counted from 1) of a run with ``n``
            iterations per epoch is ``loss_weight * min(i / (n * epochs), 1)``, so a resumed run
            continues the ramp where it stopped.
    """

    priority = 'NORMAL'

    def __init__(self, losses: Dict[str, float]) -> None:
        for name, epochs in losses.items():
            if not epochs > 0:
                raise ConfigError(f'LossWarmupHook.losses.{name}: the warmup must be > 0 epochs, '
                                  f'got {epochs!r}')
        self.losses = dict(losses)
        self._weights: Optional[Dict[str, float]] = None

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        distiller = getattr(model, 'distiller', None)
        if distiller is None:
            raise ConfigError(f'LossWarmupHook: the model ({type(model).__name__}) has no '
                              'distiller; the hook warms up losses of model.distiller.losses')
        if self._weights is None:
            missing = sorted(set(self.losses) - set(distiller.loss_weights))
            if missing:
                raise ConfigError(f'LossWarmupHook.losses: {missing} are not losses of the '
                                  f'distiller; it has {sorted(distiller.loss_weights)}')
            self._weights = {name: distiller.loss_weights[name] for name in self.losses}
        epochs_done = (runner.iter + 1) / len(runner.train_dataloader)
        for name, epochs in self.losses.items():
            distiller.loss_weights[name] = self._weights[name] * min(epochs_done / epochs, 1.0)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook``, with nothing lost on a kill: ``last_checkpoint`` is written
    atomically, and with ``max_keep_ckpts`` the oldest checkpoint is removed only once the new
    one is whole (MMEngine removes it first). Use it with ``backend_args=dict(
    backend='atomic_local')`` so that the checkpoint files themselves are written atomically."""

    def _save_checkpoint_with_step(self, runner, step: int, meta: Dict[str, Any]) -> None:
        stale = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(self.out_dir, filename, self.file_client_args,
                               save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta,
                               by_epoch=self.by_epoch, backend_args=self.backend_args,
                               **self.args)
        if not is_main_process():
            return
        atomic_write_bytes(self.last_ckpt.encode(), osp.join(runner.work_dir, 'last_checkpoint'))
        if stale is not None:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(stale))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)


def _last_checkpoint(work_dir: str) -> str:
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return 'none yet'
    with open(marker) as f:
        return f.read().strip() or 'none yet'
