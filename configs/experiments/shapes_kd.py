# Point-cloud distillation on the synthetic shapes: a PointNet teacher (0.80 M parameters) into
# a PointNet student at 1/8 width (13 k) by logit KD, DKD, per-point feature KD and
# PointDistiller-style local distillation (both with KD).
# `python tools/run_experiment.py configs/experiments/shapes_kd.py`
work_dir = 'work_dirs/experiments/shapes_kd'
metric = 'accuracy/top1'
extra_metrics = ['accuracy/mean_class']
seeds = [0, 1, 2]
# reuse: a finished run is evaluated, an interrupted one resumed (runs take minutes each)
runs = [
    dict(name='teacher', config='configs/pointcloud/pointnet_teacher_shapes.py', reuse=True,
         seeds=None),
    dict(name='scratch', config='configs/pointcloud/pointnet_student_shapes.py', reuse=True),
]
runs += [
    dict(name=name, config=f'configs/pointcloud/{config}.py', teacher_from='teacher', reuse=True)
    for name, config in [('KD', 'kd_pointnet_shapes'), ('DKD', 'dkd_pointnet_shapes'),
                         ('PointFeat+KD', 'pointfeat_pointnet_shapes'),
                         ('PointDistiller+KD', 'pointdistiller_pointnet_shapes')]
]
