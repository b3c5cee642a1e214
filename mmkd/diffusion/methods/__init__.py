"""Step distillation of diffusion models: fewer sampling steps from a frozen many-step teacher.

- :class:`~.progressive.ProgressiveDistillation` (Salimans & Ho 2022): one student DDIM step
  matches two teacher DDIM steps; rounds halve the step count (16 -> 8 -> 4 -> 2 -> 1).
- :class:`~.consistency.ConsistencyDistillation` (Song et al. 2023, LCM): the student maps any
  point of a teacher DDIM trajectory to its end, against an EMA target network.

Both are MMEngine ``BaseModel``s trained by the stock runner (``tools/train.py``). Their student
is a :class:`~mmkd.diffusion.models.DiffusionModel` under the key prefix ``student.``
(``student.unet.*``), so ``tools/export_sampler.py`` /
:func:`mmkd.diffusion.pipeline_export.export_pipeline` take it out of a checkpoint like any
distillation student. The teacher is a frozen ``DiffusionModel`` given as a teacher spec
(:class:`mmkd.distill.teacher.TeacherSpec`)::

    teacher=dict(model=dict(type='DiffusionModel', ...),
                 checkpoint='work_dirs/unet_teacher_digits/iter_1200.pth',
                 prefix=None)          # 'student.' for a previous round's distillation checkpoint

It is part of the state dict (``teacher.unet.*``), like ``Distill``'s teachers.
"""
from .base import StepDistillation, per_sample
from .consistency import (ConsistencyDistillation, boundary_scalings, consistency_sample,
                          lcm_timesteps, pseudo_huber)
from .progressive import ProgressiveDistillation

__all__ = ['StepDistillation', 'ProgressiveDistillation', 'ConsistencyDistillation',
           'consistency_sample', 'boundary_scalings', 'per_sample', 'pseudo_huber',
           'lcm_timesteps']
