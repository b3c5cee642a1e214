# Cross-modal 2D -> 3D distillation on the synthetic shapes: an MVCNN image teacher on 6 depth
# views (32 px, rendered from 1024 points) distilled into a PointNet student at 1/8 width on 128
# of those points, by logit KD, global-feature KD (+ KD) and PPKT point-to-pixel contrast (+ KD).
# One seed per run; `make demo` runs it. Measured here (OMP_NUM_THREADS=1, other jobs on the
# machine): teacher 12.5 min (60 epochs), the four students 8.5 min; the teacher is reused from
# the work dir on a second run.
# `python tools/run_experiment.py configs/experiments/crossmodal_2d3d.py`
work_dir = 'work_dirs/experiments/crossmodal_2d3d'
metric = 'accuracy/top1'
runs = [
    dict(name='teacher (MVCNN on views)', config='configs/crossmodal/mvcnn_teacher_shapes.py',
         reuse=True, seeds=None),
    dict(name='scratch (PointNet x0.125)',
         config='configs/crossmodal/pointnet_student_shapes_views.py', reuse=True),
]
# the KD row was measured at T=4, the recipe's temperature then (it is T=1 now)
runs += [
    dict(name=name, config=f'configs/crossmodal/{config}.py',
         teacher_from='teacher (MVCNN on views)', reuse=True,
         cfg_options={'model.distiller.losses.loss_kd.temperature': 4.0})
    for name, config in [('KD', 'kd_mvcnn_pointnet_shapes'),
                         ('FeatKD+KD', 'featkd_mvcnn_pointnet_shapes'),
                         ('PPKT+KD', 'ppkt_mvcnn_pointnet_shapes')]
]
teacher_run = 'teacher (MVCNN on views)'
scratch_run = 'scratch (PointNet x0.125)'
