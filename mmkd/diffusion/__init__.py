"""Diffusion: a diffusers UNet adapter, image datasets, explicit-timestep samplers and the export
of a few-step sampler that stock diffusers loads (``DiffusionPipeline.from_pretrained``).

Step-distillation methods (progressive, consistency) go in ``mmkd/diffusion/methods/``, one per
file, on top of :class:`DiffusionModel` (teacher and student) and :mod:`mmkd.diffusion.sampling`
(``ddim_timesteps``, ``alpha_at``, ``ddim_step``, ``predict_x0_eps``, ``training_target``).
Pipeline export (``mmkd.diffusion.pipeline_export``, ``tools/export_sampler.py``) is not
imported here: it pulls in the config and checkpoint machinery.
"""
from .datasets import DigitsImages, ImageFolderDataset, SyntheticShapesImages
from .models import DiffusionModel
from .sampling import (alpha_at, ddim_sample, ddim_step, ddim_timesteps, predict_x0_eps,
                       sample_like_pipeline, scheduler_sample, training_target)

__all__ = ['DigitsImages', 'ImageFolderDataset', 'SyntheticShapesImages', 'DiffusionModel',
           'alpha_at', 'ddim_sample', 'ddim_step', 'ddim_timesteps', 'predict_x0_eps',
           'sample_like_pipeline', 'scheduler_sample', 'training_target']
from . import edge_graphs, methods  # noqa: E402,F401  (register the UNet graph, the algorithms)
