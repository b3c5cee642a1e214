"""The deployable student of a training config: where it sits in the config and the checkpoint,
how to build it with its weights, and how to write it alone (no teachers, no connectors, no loss
state). Every tool that needs "the model that ships" goes through :func:`build_student`."""
import copy
import os.path as osp
from typing import Any, Dict, Optional, Tuple, Union

import torch
from mmengine.config import Config

from mmkd.errors import ConfigError
from mmkd.fileio import (Checkpoint, atomic_torch_save, has_ema_weights, load_state_dict_file,
                         load_weights, read_checkpoint)
from mmkd.registry import MODELS


def is_distillation(model_cfg: dict) -> bool:
    return 'student' in model_cfg or 'students' in model_cfg


def student_prefix(model_cfg: dict, student: Optional[str] = None) -> str:
    """Where the student lives in the algorithm's state dict: ``'student.'`` for ``Distill``,
    ``'students.<name>.'`` for ``MutualLearning``."""
    if 'students' in model_cfg:
        names = list(model_cfg['students'])
        name = student or model_cfg.get('predict_with') or names[0]
        if name not in names:
            raise ConfigError(f'--student: no student named {name!r}; students are {names}')
        return f'students.{name}.'
    if 'student' in model_cfg:
        return 'student.'
    raise ConfigError(f"model: {model_cfg.get('type')!r} has no 'student' or 'students' key; "
                      'is this a distillation config?')


def student_config(cfg: Config, student: Optional[str] = None) -> Config:
    """The training config with ``model`` replaced by the plain student model. The algorithm's
    ``data_preprocessor`` (what the student saw in training) goes with it."""
    model_cfg = cfg.model
    if 'students' in model_cfg:
        name = student_prefix(model_cfg, student).split('.')[1]
        student_cfg = copy.deepcopy(model_cfg['students'][name])
    else:
        student_cfg = copy.deepcopy(model_cfg['student'])
    if model_cfg.get('data_preprocessor') is not None:
        student_cfg['data_preprocessor'] = copy.deepcopy(model_cfg['data_preprocessor'])
    cfg = cfg.copy()
    cfg.model = student_cfg
    return cfg


def deployable_config(cfg: Config, student: Optional[str] = None) -> Tuple[Dict[str, Any], str]:
    """``(model config, its key prefix in a checkpoint)``: the student of a distillation config
    (``'student.'`` / ``'students.<name>.'``), else the config's model itself (``''``)."""
    if is_distillation(cfg.model):
        return student_config(cfg, student).model.to_dict(), student_prefix(cfg.model, student)
    model = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    return model, ''


def build_student(config: Union[str, Config], checkpoint: Optional[Checkpoint] = None,
                  student: Optional[str] = None,
                  ema: Optional[bool] = None) -> Tuple[torch.nn.Module, bool]:
    """``(model, is_ema)``: the model :func:`deployable_config` names, in eval mode, with the
    checkpoint's weights loaded strictly (random initialisation without a checkpoint).

    The checkpoint may be the training run's (the student is taken out by its prefix) or the
    student's alone (:func:`export_student`). ``ema`` as in
    :func:`mmkd.fileio.load_state_dict_file`: the weights as saved (``None``), the EMA weights
    (``True``) or the training weights (``False``); ``is_ema`` says which were loaded."""
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    init_default_scope(cfg.get('default_scope', 'mmkd'))
    model_cfg, prefix = deployable_config(cfg, student)
    model = MODELS.build(model_cfg)
    is_ema = False
    if checkpoint is not None:
        loaded = read_checkpoint(checkpoint, 'checkpoint')
        weights = loaded.get('state_dict', loaded)
        if prefix and not any(k.startswith(prefix) for k in weights):
            prefix = ''  # the student exported alone
        load_weights(model, loaded if isinstance(checkpoint, dict) else checkpoint,
                     'checkpoint', prefix or None, ema)
        is_ema = ema is not False and has_ema_weights(loaded)
    return model.eval(), is_ema


def deployable_module(model: torch.nn.Module) -> torch.nn.Module:
    """The network that ships out of a built model: the student of a distillation algorithm
    (the one it predicts with, for several), else the model (unwrapped from DDP)."""
    model = getattr(model, 'module', model)
    if hasattr(model, 'student'):
        return model.student
    if hasattr(model, 'students'):
        return model.students[model.predict_with]
    return model


def export_student(config: str, checkpoint: str, out: str,
                   student: Optional[str] = None) -> Dict[str, str]:
    """Write ``out`` (a student-only ``{'state_dict': ...}`` checkpoint) and, beside it, the
    student's config (``<out without .pth>.py``), so ``tools/test.py`` runs the student alone."""
    cfg = Config.fromfile(config)
    prefix = student_prefix(cfg.model, student)
    state_dict = load_state_dict_file(checkpoint, 'checkpoint', prefix=prefix)
    atomic_torch_save(dict(state_dict=state_dict, meta=dict(source=osp.abspath(checkpoint))),
                      out)
    config_out = osp.splitext(out)[0] + '.py'
    student_config(cfg, student).dump(config_out)
    return dict(checkpoint=out, config=config_out)
