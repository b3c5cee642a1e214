"""Experiments: a list of runs (teacher, scratch student, distilled students) trained in order,
their test metrics collected into a report with "gap closed" per method.

Experiment config::

    work_dir = 'work_dirs/experiments/digits_kd'
    metric = 'accuracy/top1'                  # the test metric the report compares
    extra_metrics = ['accuracy/mean_class']   # more columns (optional)
    runs = [
        dict(name='teacher', config='configs/digits/cnn_teacher_digits.py', reuse=True),
        dict(name='scratch', config='configs/digits/cnn_student_digits.py'),
        dict(name='KD', config='configs/digits/kd_cnn_digits.py', teacher_from='teacher'),
    ]

A run with ``reuse=True`` whose final checkpoint exists is evaluated, not retrained (one that
stopped early is resumed).
``teacher_from`` points the run's teacher (``model.teachers.<teacher_key>.checkpoint``,
``teacher_key`` defaulting to ``'teacher'``) at another run's final checkpoint;
``teacher_checkpoint_keys`` lists the config keys to point there instead (e.g. a ULIP student's
frozen teacher and text tower, ``['model.teachers.clip.checkpoint',
'model.student.text_encoder.pretrained']``). ``seeds``
(per run, or for all runs at the top level) repeats a run with each seed and reports the mean
and standard deviation.
The teacher run is named ``teacher`` and the baseline ``scratch`` unless the config says
``teacher_run``/``scratch_run``. A run's ``work_dir`` puts it outside the experiment's folder (a
teacher that several experiments share).

A run whose config sets ``model.teacher_cache`` gets its cache written first (by
:func:`mmkd.distill.cache.write_teacher_cache`), or reused when one for exactly that config and
teacher checkpoint is there. A run that keeps its best validation epoch (MMEngine's
``CheckpointHook(save_best=...)``) is tested twice: at that epoch and at the last one; the report
then shows both, so the test set never chooses an epoch. ``gap_curves=True`` also draws the
validation gap closed per epoch (``gap_closed.png``).
"""

from .plots import plot_curves, plot_gap_curves, plot_results, read_scalars, validation_curve
from .report import gap_closed, report_table
from .runs import (best_checkpoint, count_params, first_sample, latency_ms, run_experiment,
                   run_one, run_seeds, seed_dir)

__all__ = ['best_checkpoint', 'count_params', 'first_sample', 'gap_closed', 'latency_ms',
           'plot_curves', 'plot_gap_curves', 'plot_results', 'read_scalars', 'report_table',
           'run_experiment', 'run_one', 'run_seeds', 'seed_dir', 'validation_curve']
