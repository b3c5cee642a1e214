"""Hooks for distillation runs."""
from mmengine.hooks import Hook
from mmengine.runner import set_random_seed

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
