"""Progressive distillation (Salimans & Ho 2022, "Progressive Distillation for Fast Sampling of
Diffusion Models", algorithm 2): one student DDIM step does the work of two teacher DDIM steps.

Per training sample (``x`` from the data, ``eps ~ N(0, I)`` drawn first, then the step index
``i ~ U{0..N-1}``; global torch RNG):

- student grid ``ddim_timesteps(T, N, spacing)``, teacher grid ``ddim_timesteps(T, 2N, spacing)``,
  which must interleave it: ``t = s_i``, ``t' = (teacher grid)[2i + 1]``, ``t'' = s_{i+1}``
  (``-1`` after the last student step, where ``alpha = 1``: a clean image);
- ``z_t = sqrt(a_t) x + sqrt(1 - a_t) eps`` and two deterministic teacher DDIM steps
  ``z_t -> z_t' -> z_t''`` (``ddim_step``, ``eta = 0``);
- with ``alpha = sqrt(a)``, ``sigma = sqrt(1 - a)`` (``a`` = diffusers' ``alphas_cumprod``), one
  DDIM step with x0-prediction ``x`` goes ``z_t'' = alpha'' x + sigma'' (z_t - alpha_t x) /
  sigma_t``. The target is the ``x`` that lands exactly on the teacher's ``z_t''``::

      x~ = (z_t'' - (sigma''/sigma_t) z_t) / (alpha'' - (sigma''/sigma_t) alpha_t)

  (at the last step ``alpha'' = 1``, ``sigma'' = 0``: ``x~ = z_t''``, the teacher's image);
- loss ``mean(w(t) (x^ - x~)^2)`` on the student's x0-prediction ``x^`` (from its epsilon or v
  output, :func:`~mmkd.diffusion.sampling.predict_x0_eps`) with ``w = max(SNR_t, 1)``
  ("truncated SNR", the paper's default; ``'snr_plus_one'``: ``SNR_t + 1``; ``'none'``: 1),
  ``SNR_t = a_t / (1 - a_t)``. Use v-prediction students: an epsilon student's
  ``x^ = (z - sigma eps^) / alpha`` at ``t = 999`` multiplies its error by ``1 / alpha ~ 2e4``.

Rounds (the student starts from its teacher's weights, ``init_from_teacher=True``): round 1
distils the pretrained teacher's 16-step DDIM into an 8-step student
(``configs/diffusion/pd_digits.py``); each next round takes the previous student as teacher::

    python tools/train.py configs/diffusion/pd_digits.py                  # 16 -> 8
    python tools/train.py configs/diffusion/pd_digits_4steps.py           #  8 -> 4
    python tools/train.py configs/diffusion/pd_digits_2steps.py           #  4 -> 2
    python tools/train.py configs/diffusion/pd_digits_1step.py            #  2 -> 1
    python tools/export_sampler.py configs/diffusion/pd_digits_1step.py \\
        work_dirs/pd_digits_1step/iter_400.pth out/pd_1step --steps 1

A round config is nothing more than ``num_student_steps=N``, ``teacher.checkpoint`` = the
previous round's checkpoint with ``teacher.prefix='student.'`` and the previous student's model
config as ``teacher.model``; the same from the command line::

    python tools/train.py configs/diffusion/pd_digits.py --work-dir work_dirs/pd_4 \\
        --cfg-options model.num_student_steps=4 \\
        model.teacher.checkpoint=work_dirs/pd_digits/iter_400.pth model.teacher.prefix=student. \\
        model.teacher.model.scheduler.prediction_type=v_prediction

``mode='predict'`` samples with the student's DDIM over its own N-step grid, which is what the
exported ``DDIMPipeline`` runs with ``num_inference_steps=N`` (same ``spacing``).
"""
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

from mmkd.errors import InvalidValueError
from mmkd.registry import MODELS

from ..sampling import alpha_at, ddim_sample, ddim_step, ddim_timesteps, predict_x0_eps
from .base import StepDistillation

__all__ = ['ProgressiveDistillation', 'pd_x0_target', 'LOSS_WEIGHTINGS']

LOSS_WEIGHTINGS = ('truncated_snr', 'snr_plus_one', 'none')


def pd_x0_target(z_t: Tensor, z_next: Tensor, alpha_prod_t: Tensor,
                 alpha_prod_next: Tensor) -> Tensor:
    """The x0-prediction whose DDIM step ``z_t -> z_next`` is exact (see the module docstring).
    ``alpha_prod_*`` are ``alphas_cumprod`` values broadcastable to ``z_t`` (1 for a clean
    ``z_next``)."""
    ratio = ((1 - alpha_prod_next) / (1 - alpha_prod_t)) ** 0.5          # sigma'' / sigma_t
    return (z_next - ratio * z_t) / (alpha_prod_next ** 0.5 - ratio * alpha_prod_t ** 0.5)


def loss_weight(alpha_prod_t: Tensor, weighting: str) -> Tensor:
    snr = alpha_prod_t / (1 - alpha_prod_t)
    if weighting == 'truncated_snr':
        return snr.clamp(min=1.0)
    if weighting == 'snr_plus_one':
        return snr + 1
    return torch.ones_like(snr)


@MODELS.register_module()
class ProgressiveDistillation(StepDistillation):
    """Progressive distillation of a 2N-step DDIM teacher into an N-step student.

    Args:
        student, teacher, init_from_teacher: see :class:`StepDistillation`.
        num_student_steps: N, the student's DDIM steps (the teacher runs 2N).
        spacing: timestep spacing of both grids (``'trailing'``: e.g. N=8 ->
            ``[999, 874, ..., 124]``, teacher ``[999, 936, 874, ...]``); the 2N grid must
            contain the N grid at its even positions (checked).
        loss_weighting: ``'truncated_snr'`` (``max(SNR, 1)``), ``'snr_plus_one'`` or ``'none'``.
        teacher_clip_x0: clamp the teacher's x0-predictions to [-1, 1] inside its two DDIM steps
            (off by default: the exported sampler does not clip either).
    """

    def __init__(self, student: Dict[str, Any], teacher: Dict[str, Any],
                 num_student_steps: int = 8, spacing: str = 'trailing',
                 loss_weighting: str = 'truncated_snr', teacher_clip_x0: bool = False,
                 init_from_teacher: bool = True, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(student, teacher, init_from_teacher, data_preprocessor, init_cfg)
        if loss_weighting not in LOSS_WEIGHTINGS:
            raise InvalidValueError(f'model.loss_weighting: expected one of {LOSS_WEIGHTINGS}, got '
                                    f'{loss_weighting!r}')
        T, N = self.num_train_timesteps, int(num_student_steps)
        if not 1 <= N <= T // 2:
            raise InvalidValueError(f'model.num_student_steps: expected 1..{T // 2}, got {N}')
        student_ts = ddim_timesteps(T, N, spacing)
        teacher_ts = ddim_timesteps(T, 2 * N, spacing)
        if teacher_ts[0::2] != student_ts:
            raise InvalidValueError(f"model.spacing: {spacing!r} grids do not nest: the "
                                    f"{2 * N}-step "
                                    f'teacher grid {teacher_ts} does not contain the {N}-step '
                                    'student '
                                    f"grid {student_ts} at its even positions; use 'trailing'")
        self.num_student_steps, self.spacing = N, spacing
        self.student_timesteps, self.teacher_timesteps = student_ts, teacher_ts
        self.loss_weighting, self.teacher_clip_x0 = loss_weighting, teacher_clip_x0
        # per student step i: t_i, the teacher's middle step, and the next student step (-1: x0)
        self.register_buffer('_t', torch.tensor(student_ts), persistent=False)
        self.register_buffer('_t_mid', torch.tensor(teacher_ts[1::2]), persistent=False)
        self.register_buffer('_t_next', torch.tensor(student_ts[1:] + [-1]), persistent=False)

    @torch.no_grad()
    def teacher_two_steps(self, z_t: Tensor, t: Tensor, t_mid: Tensor,
                          t_next: Tensor) -> Tensor:
        """``z_t -> z_t' -> z_t''``: two deterministic teacher DDIM steps (per-sample ``t``)."""
        teacher, ac = self.teacher, self.alphas_cumprod
        z = z_t.to(self.teacher_spec.dtype)
        for t_from, t_to in ((t, t_mid), (t_mid, t_next)):
            out = teacher.denoise(z, t_from).float()
            z, _ = ddim_step(out, z.float(), alpha_at(ac, t_from, z_t), alpha_at(ac, t_to, z_t),
                             teacher.prediction_type, clip_sample=self.teacher_clip_x0)
        return z

    def targets(self, x0: Tensor, noise: Tensor,
                index: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(z_t, t, x~, z_t'')`` for clean images, noise and student step indices ``[N]``."""
        t, t_mid, t_next = self._t[index], self._t_mid[index], self._t_next[index]
        ac = self.alphas_cumprod
        a_t, a_next = alpha_at(ac, t, x0), alpha_at(ac, t_next, x0)
        z_t = a_t ** 0.5 * x0 + (1 - a_t) ** 0.5 * noise
        z_next = self.teacher_two_steps(z_t, t, t_mid, t_next)
        return z_t, t, pd_x0_target(z_t, z_next, a_t, a_next), z_next

    def distillation_loss(self, x0: Tensor, noise: Tensor, index: Tensor) -> Tensor:
        z_t, t, x_target, _ = self.targets(x0, noise, index)
        a_t = alpha_at(self.alphas_cumprod, t, x0)
        x_pred, _ = predict_x0_eps(self.student.denoise(z_t, t), z_t, a_t,
                                   self.student.prediction_type)
        return (loss_weight(a_t, self.loss_weighting) * (x_pred - x_target) ** 2).mean()

    def loss(self, inputs: Tensor, data_samples: Any = None) -> Dict[str, Tensor]:
        noise = torch.randn_like(inputs)
        index = torch.randint(0, self.num_student_steps, (inputs.shape[0],), device=inputs.device)
        return dict(loss_pd=self.distillation_loss(inputs, noise, index))

    def sample(self, noise: Tensor) -> Tensor:
        """The student's N-step DDIM (what the exported ``DDIMPipeline`` runs)."""
        return ddim_sample(self.student.unet, self.alphas_cumprod, self.student_timesteps, noise,
                           self.student.prediction_type)
