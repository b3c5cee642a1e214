"""Offline, self- and multi-teacher distillation of one student: the ``Distill`` algorithm.

``loss()`` runs every teacher without gradients in its configured mode, then the student in
``'loss'`` mode with the recorders live, and returns the student's own losses as
``student.<name>`` plus the distiller's ``distill.<name>`` losses. The stock MMEngine runner
trains it; ``predict`` and ``tensor`` modes are the student's.

With ``teacher_cache=dict(path=...)`` the teachers are neither built nor run: their recordings
come with the batch from a cache written by ``tools/cache_teacher.py`` (see
:mod:`mmkd.distill.cache`), and the training set must be a ``TeacherCacheDataset``.
"""
from typing import Any, Dict, List, Optional, Union

import torch
from mmengine.model import BaseModel
from torch import Tensor, nn

from mmkd.errors import ConfigError
from mmkd.registry import MODELS
from ..cache import TeacherCache, check_cacheable, teacher_key
from ..distiller import Distiller
from ..teacher import TeacherSpec


def run_model(model: nn.Module, inputs: Any, data_samples: Any, mode: str) -> Any:
    """Call an MMEngine model as ``model(inputs, data_samples, mode)``, a plain module as
    ``model(inputs)``, or as ``model(**inputs)`` when the inputs are a dict (a tokenizer's
    ``input_ids`` and ``attention_mask`` for a Hugging Face model)."""
    if isinstance(model, BaseModel):
        return model(inputs, data_samples, mode=mode)
    if isinstance(inputs, dict):
        return model(**inputs)
    return model(inputs)


def cast_floats(inputs: Any, dtype: torch.dtype) -> Any:
    """Cast the floating tensors in ``inputs`` (a tensor, list or dict of them) to ``dtype``."""
    if torch.is_tensor(inputs):
        return inputs.to(dtype) if inputs.is_floating_point() else inputs
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(cast_floats(x, dtype) for x in inputs)
    if isinstance(inputs, dict):
        return {k: cast_floats(v, dtype) for k, v in inputs.items()}
    return inputs


def _scale(loss: Union[Tensor, List[Tensor]], weight: float) -> Union[Tensor, List[Tensor]]:
    """MMEngine allows a loss entry to be a tensor or a list of tensors."""
    return [x * weight for x in loss] if isinstance(loss, (list, tuple)) else loss * weight


@MODELS.register_module()
class Distill(BaseModel):
    """A student, named teachers and a distiller.

    Args:
        student: the student's model config (or module).
        teachers: teacher name -> teacher spec (see :mod:`mmkd.distill.teacher`). May be empty
            for self-distillation between the student's own layers.
        distiller: the distiller config (see :mod:`mmkd.distill.distiller`); its recorders are
            keyed by ``'student'`` and the teacher names.
        student_loss_weight: factor on the student's own task losses (0 for pure distillation).
        data_preprocessor: defaults to the student's own.
        teacher_cache: ``dict(path=...)``, a teacher-output cache that replaces the teachers
            (they are not built); it must have been made for these teachers and recorders.
    """

    def __init__(self,
                 student: Union[dict, nn.Module],
                 distiller: dict,
                 teachers: Optional[Dict[str, dict]] = None,
                 student_loss_weight: float = 1.0,
                 data_preprocessor: Optional[dict] = None,
                 teacher_cache: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        # the config (not the module) of what prepares the teachers' inputs, for the cache key
        self._preprocessor_cfg = data_preprocessor if data_preprocessor is not None else (
            student.get('data_preprocessor') if isinstance(student, dict) else None)
        self._recorder_cfgs = dict(distiller.get('recorders') or {})
        student = MODELS.build(student) if isinstance(student, dict) else student
        if data_preprocessor is None and isinstance(student, BaseModel):
            data_preprocessor = student.data_preprocessor
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.student = student
        self.teacher_specs: Dict[str, TeacherSpec] = {}
        self.teachers = nn.ModuleDict()
        for name, cfg in (teachers or {}).items():
            if name in ('student', 'batch'):
                raise ConfigError(f'model.teachers.{name}: {name!r} is reserved, pick another name')
            self.teacher_specs[name] = TeacherSpec(name, **cfg)
        self.teacher_cache: Optional[TeacherCache] = None
        if teacher_cache is not None:
            for spec in self.teacher_specs.values():
                check_cacheable(spec)
            self.teacher_cache = TeacherCache(**teacher_cache)
            self.teacher_cache.check(self.cache_key(), 'model.teacher_cache')
        else:
            for name, spec in self.teacher_specs.items():
                self.teachers[name] = spec.build(self.student)
        self.student_loss_weight = student_loss_weight
        half_teachers = tuple(n for n, s in self.teacher_specs.items() if s.dtype != torch.float32)
        replayed = tuple(self.teacher_specs) if self.teacher_cache is not None else ()
        self.distiller = Distiller(dict(student=self.student, **self.teachers),
                                   float_models=half_teachers, replayed=replayed, **distiller)
        self.train(True)

    def cache_key(self) -> Dict[str, Any]:
        """The model side of a teacher-output cache's key (see :func:`teacher_key`)."""
        return teacher_key(self.teacher_specs, self._recorder_cfgs, self._preprocessor_cfg)

    def train(self, mode: bool = True) -> 'Distill':
        super().train(mode)
        for name, teacher in self.teachers.items():
            self.teacher_specs[name].set_mode(teacher, mode)
        return self

    def init_weights(self) -> None:
        """Initialise the student and connectors; loaded teachers are left untouched and EMA
        teachers restart from the initialised student."""
        for module in (self.student, *self.distiller.connectors.values()):
            if hasattr(module, 'init_weights'):
                module.init_weights()
        for name, spec in self.teacher_specs.items():
            if spec.ema_of_student:
                self.teachers[name].load_state_dict(self.student.state_dict())

    def run_teachers(self, inputs: Any, data_samples: Any = None) -> None:
        """Run every teacher (no grad, its dtype, its inputs) with its recorders live."""
        for name, teacher in self.teachers.items():
            spec = self.teacher_specs[name]
            with torch.no_grad(), self.distiller.recording(name):
                teacher_inputs = spec.select_inputs(inputs, data_samples)
                if spec.dtype != torch.float32:
                    teacher_inputs = cast_floats(teacher_inputs, spec.dtype)
                run_model(teacher, teacher_inputs, data_samples, 'tensor')

    def loss(self, inputs: Any, data_samples: Any = None) -> Dict[str, Tensor]:
        if self.teacher_cache is not None:
            for name, values in self.teacher_cache.batch_recordings(data_samples).items():
                self.distiller.replay(name, values)
        else:
            if self.training:
                for name, spec in self.teacher_specs.items():
                    if spec.ema_of_student:
                        spec.update_ema(self.teachers[name], self.student)
            self.run_teachers(inputs, data_samples)
        with self.distiller.recording('student'):
            student_losses = run_model(self.student, inputs, data_samples, 'loss')
        losses = {f'student.{k}': _scale(v, self.student_loss_weight) if 'loss' in k else v
                  for k, v in student_losses.items()}
        losses.update(self.distiller.compute_losses(data_samples))
        return losses

    def forward(self, inputs: Any, data_samples: Any = None, mode: str = 'tensor') -> Any:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return run_model(self.student, inputs, data_samples, mode)
