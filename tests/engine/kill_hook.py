"""A hook that SIGKILLs its own process mid-training, to test resuming after a hard crash.

Loaded by the resume test's config through
``custom_imports = dict(imports=['kill_hook'], allow_failed_imports=False)`` with this folder on
``PYTHONPATH``.
"""
import os
import signal

from mmengine.hooks import Hook

from mmkd.registry import HOOKS


@HOOKS.register_module()
class KillAtIterHook(Hook):
    """Kill the process with SIGKILL once ``kill_after_iters`` training iterations are done
    (no cleanup, no checkpoint: like an OOM kill or a pre-empted node)."""

    priority = 'VERY_LOW'

    def __init__(self, kill_after_iters: int) -> None:
        if kill_after_iters < 1:
            raise ValueError(f'kill_after_iters: expected >= 1, got {kill_after_iters}')
        self.kill_after_iters = kill_after_iters

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        # ``runner.iter`` is the 0-based index of the iteration that has just finished.
        if runner.iter + 1 == self.kill_after_iters:
            runner.logger.info(f'KillAtIterHook: SIGKILL after {self.kill_after_iters} iters '
                               f'(epoch {runner.epoch + 1}, batch {batch_idx})')
            for handler in runner.logger.handlers:
                handler.flush()
            os.kill(os.getpid(), signal.SIGKILL)
