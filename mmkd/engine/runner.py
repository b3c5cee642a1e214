"""Build and run the stock MMEngine ``Runner`` from a config, on CPU or GPU, alone or under
``torchrun``. The tools are thin wrappers around these functions."""
import glob
import os.path as osp
from typing import Any, Dict, Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.runner import Runner

from mmkd.errors import MissingFileError, StateError
from mmkd.fileio import (allow_mmengine_checkpoint_types, remove_orphan_temporaries,
                         safe_torch_load)

from .config_check import check_config_keys, check_option_keys, syntax_error
from .student import build_student


def load_config(config: str, work_dir: Optional[str] = None,
                cfg_options: Optional[Dict[str, Any]] = None, launcher: str = 'none') -> Config:
    """Read ``config``, apply ``cfg_options``, and fill ``work_dir`` and ``launcher``."""
    if not osp.isfile(config):
        raise MissingFileError(f'config file {config!r} does not exist')
    error = syntax_error(config)
    if error is not None:
        raise error
    cfg = Config.fromfile(config)
    if cfg_options:
        check_option_keys(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    check_config_keys(cfg)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(config))[0])
    cfg.launcher = launcher
    return cfg


def _setup_cpu_distributed(cfg: Config) -> None:
    """MMEngine 0.10.7's ``pytorch`` launcher calls ``torch.cuda.set_device`` and wraps the model
    with ``device_ids=[LOCAL_RANK]``; both fail on CPU. Initialise gloo ourselves (MMEngine then
    skips its own init) and wrap CPU modules with ``device_ids=None``."""
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper.setdefault('broadcast_buffers', False)
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def build_runner(cfg: Config) -> Runner:
    """A ``Runner`` for ``cfg`` that can resume on torch >= 2.6, runs under gloo on CPU, stops
    when training goes non-finite (:class:`~mmkd.engine.hooks.FiniteTrainingHook`) and starts by
    removing the temporary files an interrupted atomic write left in its work dir."""
    allow_mmengine_checkpoint_types()
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(dict(h).get('type') == 'FiniteTrainingHook' for h in hooks):
        cfg.custom_hooks = hooks + [dict(type='FiniteTrainingHook')]
    if cfg.get('work_dir'):
        remove_orphan_temporaries(cfg.work_dir)
    if cfg.get('launcher', 'none') == 'pytorch' and not torch.cuda.is_available():
        _setup_cpu_distributed(cfg)
    return Runner.from_cfg(cfg)


def resume_checkpoint(work_dir: str) -> Optional[str]:
    """What ``--resume`` continues from: the checkpoint ``last_checkpoint`` names when it is there
    and loads, else the newest checkpoint of the work dir that loads (a marker left empty or
    stale by a kill), else None (a fresh start)."""
    marker = osp.join(work_dir, 'last_checkpoint')
    named = open(marker).read().strip() if osp.isfile(marker) else ''
    found = sorted(glob.glob(osp.join(work_dir, '*.pth')), key=osp.getmtime, reverse=True)
    for path in ([named] if named else []) + [p for p in found if p != named]:
        if not osp.isfile(path):
            continue
        try:
            safe_torch_load(path, '--resume')
        except StateError:
            continue
        return path
    return None


def train(config: str, work_dir: Optional[str] = None, resume: Optional[str] = None,
          cfg_options: Optional[Dict[str, Any]] = None, launcher: str = 'none') -> Runner:
    """Train from a config file. ``resume='auto'`` resumes from the work dir's latest
    checkpoint, a path resumes from that checkpoint."""
    cfg = load_config(config, work_dir, cfg_options, launcher)
    if resume is not None:
        cfg.resume = True
        if resume == 'auto':
            cfg.load_from = resume_checkpoint(cfg.work_dir)
        else:
            safe_torch_load(resume, '--resume')  # a named error for a corrupt file
            cfg.load_from = resume
    runner = build_runner(cfg)
    runner.train()
    return runner


def test(config: str, checkpoint: str, work_dir: Optional[str] = None,
         cfg_options: Optional[Dict[str, Any]] = None) -> Dict[str, float]:
    """Evaluate ``checkpoint`` on the config's test set; returns the metrics. What is evaluated
    is the deployable model (the student of a distillation config, which is what its predict
    mode runs), loaded strictly: a checkpoint of another model is refused with its missing and
    unexpected keys, and no teacher file is needed."""
    if not osp.isfile(checkpoint):
        raise MissingFileError(f'checkpoint {checkpoint!r} does not exist')
    cfg = load_config(config, work_dir, cfg_options)
    model, _ = build_student(cfg, checkpoint)
    cfg.model = model
    cfg.load_from = None
    return build_runner(cfg).test()
