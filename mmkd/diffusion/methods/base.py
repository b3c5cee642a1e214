"""What every step-distillation method shares: student and frozen teacher on one noise schedule."""
from typing import Any, Dict, Optional

import torch
from mmengine.model import BaseModel
from torch import Tensor

from mmkd.errors import InvalidValueError, WrongTypeError
from mmkd.distill.teacher import TeacherSpec
from mmkd.registry import MODELS

from ..models import DiffusionModel

__all__ = ['StepDistillation', 'per_sample']


class StepDistillation(BaseModel):
    """Student + frozen teacher, both ``DiffusionModel``s on the same noise schedule.

    Args:
        student: the student's ``DiffusionModel`` config (same UNet architecture as the teacher
            when ``init_from_teacher``).
        teacher: a teacher spec (``model``, ``checkpoint``, ``prefix``, ``mode``, ``dtype``).
        init_from_teacher: copy the teacher's weights into the student at build time (both
            methods start there). The copy is exact; when the student's ``prediction_type``
            differs from the teacher's (a v-prediction student of an epsilon teacher), the
            network starts from the teacher's features but its output changes meaning, so the
            first round also re-learns the parameterisation.

    ``init_weights`` does nothing: the weights come from the teacher checkpoint at build time and
    must survive the runner's ``init_weights`` call.
    """

    def __init__(self, student: Dict[str, Any], teacher: Dict[str, Any],
                 init_from_teacher: bool = True, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.student = MODELS.build(student) if isinstance(student, dict) else student
        if not isinstance(self.student, DiffusionModel):
            raise WrongTypeError('model.student: expected a DiffusionModel, got '
                                 f'{type(self.student).__name__}')
        self.teacher_spec = TeacherSpec('teacher', **teacher)
        self.teacher_spec.where = 'model.teacher'
        self.teacher = self.teacher_spec.build(self.student)
        if not isinstance(self.teacher, DiffusionModel):
            raise WrongTypeError('model.teacher.model: expected a DiffusionModel, got '
                                 f'{type(self.teacher).__name__}')
        if (self.teacher.num_train_timesteps != self.student.num_train_timesteps or
                not torch.allclose(self.teacher.alphas_cumprod, self.student.alphas_cumprod)):
            raise InvalidValueError('model.teacher / model.student: the noise schedules differ '
                                    '(num_train_timesteps or betas); step distillation needs one')
        if init_from_teacher:
            own, theirs = self.student.state_dict(), self.teacher.state_dict()
            bad = [k for k in own if k not in theirs or theirs[k].shape != own[k].shape]
            if bad or set(theirs) - set(own):
                raise InvalidValueError('model.init_from_teacher: the student UNet does not have '
                                        'the '
                                        "teacher's architecture (e.g. "
                                        f"{(bad or sorted(theirs))[:3]}); "
                                        f'set init_from_teacher=False or match model.student.unet')
            self.student.load_state_dict({k: v.float() for k, v in theirs.items()})
        self.train(True)

    @property
    def num_train_timesteps(self) -> int:
        return self.student.num_train_timesteps

    @property
    def alphas_cumprod(self) -> Tensor:
        return self.student.alphas_cumprod

    def train(self, mode: bool = True) -> 'StepDistillation':
        super().train(mode)
        self.teacher_spec.set_mode(self.teacher, mode)
        return self

    def init_weights(self) -> None:
        """Nothing: weights are set at build time (see the class docstring)."""

    def forward(self, inputs: Tensor, data_samples: Any = None, mode: str = 'tensor') -> Any:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            noise = data_samples.get('noise') if isinstance(data_samples, dict) else None
            with torch.no_grad():
                samples = self.sample(torch.randn_like(inputs) if noise is None else noise)
            return [dict(sample=s, gt=x) for s, x in zip(samples.clamp(-1, 1), inputs)]
        return self.student(inputs, data_samples, mode=mode)

    def loss(self, inputs: Tensor, data_samples: Any = None) -> Dict[str, Tensor]:
        raise NotImplementedError

    def sample(self, noise: Tensor) -> Tensor:
        """The student's few-step sampler from ``noise`` (``mode='predict'``)."""
        raise NotImplementedError


def per_sample(values: Tensor, like: Tensor) -> Tensor:
    """``[N]`` -> ``[N, 1, 1, 1]`` (as many trailing dims as ``like``)."""
    return values.view(-1, *([1] * (like.dim() - 1))).to(like.dtype)
