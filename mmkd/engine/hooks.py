"""Hooks of mmkd's runs: reproducible epochs, training that stops when it goes non-finite,
checkpoints that a kill cannot break, and distillation loss weights scheduled over the epochs."""
import math
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

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
class LossScheduleHook(Hook):
    """Scale distillation losses' weights by a piecewise-linear function of the epoch.

    DKD ramps its loss in over the first epochs (Zhao et al. 2022: 20 of 240 on CIFAR-100): a
    strong distillation term on a student that is still random swamps the labels. The same hook
    decays a loss over training or stops it after some epochs.

    Args:
        losses: loss name in ``model.distiller.losses`` -> ``[(epoch, factor), ...]``, epochs
            non-decreasing (fractions allowed; a repeated epoch makes a step). The weight is
            ``loss_weight * factor``, interpolated linearly in the epochs completed, counted in
            iterations (``iteration / iterations per epoch``, iterations from 1, so a resumed run
            continues where it stopped); before the first point the first factor holds, after
            the last the last. ``[(0, 0), (2, 1)]`` ramps the loss in over 2 epochs;
            ``[(0, 1), (10, 1), (10, 0)]`` keeps it for the first 10 epochs only.
    """

    priority = 'NORMAL'

    def __init__(self, losses: Dict[str, List[Tuple[float, float]]]) -> None:
        if not isinstance(losses, dict):
            raise ConfigError('LossScheduleHook.losses: expected a dict of loss name -> '
                              f'[(epoch, factor), ...], got {losses!r}')
        self.losses: Dict[str, List[Tuple[float, float]]] = {}
        for name, points in losses.items():
            where = f'LossScheduleHook.losses.{name}'
            try:
                points = [(float(epoch), float(factor)) for epoch, factor in points]
            except (TypeError, ValueError):
                raise ConfigError(f'{where}: expected a list of (epoch, factor) pairs, got '
                                  f'{points!r}') from None
            epochs = [epoch for epoch, _ in points]
            if not points or epochs != sorted(epochs) or epochs[0] < 0:
                raise ConfigError(f'{where}: expected (epoch, factor) pairs with epochs >= 0 in '
                                  f'non-decreasing order, got {points}')
            if any(not factor >= 0 for _, factor in points):
                raise ConfigError(f'{where}: the factors must be >= 0, got {points}')
            self.losses[name] = points
        self._weights: Optional[Dict[str, float]] = None

    @staticmethod
    def factor(points: List[Tuple[float, float]], epoch: float) -> float:
        """The schedule's factor after ``epoch`` epochs."""
        if epoch < points[0][0]:
            return points[0][1]
        for (e0, f0), (e1, f1) in zip(points, points[1:]):
            if e0 <= epoch < e1:
                return f0 + (f1 - f0) * (epoch - e0) / (e1 - e0)
        return points[-1][1]

    def before_train_iter(self, runner, batch_idx: int, data_batch: Any = None) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        distiller = getattr(model, 'distiller', None)
        if distiller is None:
            raise ConfigError(f'LossScheduleHook: the model ({type(model).__name__}) has no '
                              'distiller; the hook schedules losses of model.distiller.losses')
        if self._weights is None:
            missing = sorted(set(self.losses) - set(distiller.loss_weights))
            if missing:
                raise ConfigError(f'LossScheduleHook.losses: {missing} are not losses of the '
                                  f'distiller; it has {sorted(distiller.loss_weights)}')
            self._weights = {name: distiller.loss_weights[name] for name in self.losses}
        epochs_done = (runner.iter + 1) / len(runner.train_dataloader)
        for name, points in self.losses.items():
            distiller.loss_weights[name] = self._weights[name] * self.factor(points, epochs_done)


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
