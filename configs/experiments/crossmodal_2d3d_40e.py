# configs/experiments/crossmodal_2d3d_3seeds.py with a 40-epoch student budget (scratch and KD
# alike): does KD from the image teacher gain more when the student trains longer? Also KD at
# T=1 and KD at weight 0.3, the two obvious settings to try once T=4, weight 1 hurt.
# `python tools/run_experiment.py configs/experiments/crossmodal_2d3d_40e.py`
_base_ = ['./crossmodal_2d3d.py']
work_dir = 'work_dirs/experiments/crossmodal_2d3d_40e'
seeds = [0, 1, 2]
epochs40 = {'train_cfg.max_epochs': 40, 'param_scheduler.0.T_max': 40}
runs = [
    dict(name='teacher (MVCNN on views)', config='configs/crossmodal/mvcnn_teacher_shapes.py',
         reuse=True, seeds=None),
    dict(name='scratch (PointNet x0.125)',
         config='configs/crossmodal/pointnet_student_shapes_views.py', reuse=True,
         cfg_options=epochs40),
]
kd = 'model.distiller.losses.loss_kd'
runs += [
    dict(name='KD', config='configs/crossmodal/kd_mvcnn_pointnet_shapes.py',
         teacher_from='teacher (MVCNN on views)', reuse=True,
         cfg_options={**epochs40, f'{kd}.temperature': 4.0}),
    dict(name='KD (T=1)', config='configs/crossmodal/kd_mvcnn_pointnet_shapes.py',
         teacher_from='teacher (MVCNN on views)', reuse=True,
         cfg_options={**epochs40, f'{kd}.temperature': 1.0}),
    dict(name='KD (weight 0.3)', config='configs/crossmodal/kd_mvcnn_pointnet_shapes.py',
         teacher_from='teacher (MVCNN on views)', reuse=True,
         cfg_options={**epochs40, f'{kd}.temperature': 4.0, f'{kd}.loss_weight': 0.3}),
]
