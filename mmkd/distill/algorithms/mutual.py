"""Online mutual learning (Zhang et al., "Deep Mutual Learning", CVPR 2018).

Two or more students train together from scratch and teach each other: each student's own task
loss plus distillation losses whose "teacher" inputs are the other students' (detached) outputs.
The distiller's recorders are keyed by the student names, e.g. for two students::

    losses=dict(
        loss_a_from_b=dict(type='KDLoss', temperature=1.0, inputs=dict(
            student_logits='a.logits', teacher_logits='b.logits')),
        loss_b_from_a=dict(type='KDLoss', temperature=1.0, inputs=dict(
            student_logits='b.logits', teacher_logits='a.logits')))
"""
from typing import Any, Dict, Optional

from mmengine.model import BaseModel
from torch import Tensor, nn

from mmkd.errors import ConfigError, InvalidValueError
from mmkd.registry import MODELS
from ..distiller import Distiller
from .distill import run_model


@MODELS.register_module()
class MutualLearning(BaseModel):
    """Peers trained together. ``predict_with`` names the peer used for predictions."""

    def __init__(self,
                 students: Dict[str, dict],
                 distiller: dict,
                 predict_with: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if len(students) < 2:
            raise InvalidValueError('model.students: mutual learning needs two or more students, '
                                    f'got {list(students)}')
        built = {name: MODELS.build(cfg) if isinstance(cfg, dict) else cfg
                 for name, cfg in students.items()}
        first = next(iter(built.values()))
        if data_preprocessor is None and isinstance(first, BaseModel):
            data_preprocessor = first.data_preprocessor
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if 'batch' in built:
            raise ConfigError("model.students.batch: 'batch' is reserved, pick another name")
        self.students = nn.ModuleDict(built)
        self.predict_with = predict_with or next(iter(built))
        if self.predict_with not in built:
            raise ConfigError(f'model.predict_with: no student named {self.predict_with!r}; '
                              f'students are {list(built)}')
        self.distiller = Distiller(dict(self.students), **distiller)

    def loss(self, inputs: Any, data_samples: Any = None) -> Dict[str, Tensor]:
        losses = {}
        for name, student in self.students.items():
            with self.distiller.recording(name):
                own = run_model(student, inputs, data_samples, 'loss')
            losses.update({f'{name}.{k}': v for k, v in own.items()})
        losses.update(self.distiller.compute_losses(data_samples))
        return losses

    def forward(self, inputs: Any, data_samples: Any = None, mode: str = 'tensor') -> Any:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return run_model(self.students[self.predict_with], inputs, data_samples, mode)
