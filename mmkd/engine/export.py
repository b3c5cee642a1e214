"""Export the student of a distillation checkpoint: no teachers, no connectors, no loss state."""
import copy
import os.path as osp
from typing import Dict, Optional

import torch
from mmengine.config import Config

from .checkpoint import atomic_torch_save, load_state_dict_file


def student_prefix(model_cfg: dict, student: Optional[str] = None) -> str:
    """Where the student lives in the algorithm's state dict: ``'student.'`` for ``Distill``,
    ``'students.<name>.'`` for ``MutualLearning``."""
    if 'students' in model_cfg:
        names = list(model_cfg['students'])
        name = student or model_cfg.get('predict_with') or names[0]
        if name not in names:
            raise KeyError(f'--student: no student named {name!r}; students are {names}')
        return f'students.{name}.'
    if 'student' in model_cfg:
        return 'student.'
    raise KeyError(f"model: {model_cfg.get('type')!r} has no 'student' or 'students' key; "
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
