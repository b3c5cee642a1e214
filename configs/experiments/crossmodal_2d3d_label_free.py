# Label-free and label-scarce 2D -> 3D transfer: the point student with no 3D labels at all
# (only the image teacher's outputs on the paired views), and with 1 % of them, against scratch
# with all and with 1 % of the labels. 40 epochs, 3 seeds, the best epoch chosen on the 'val'
# split. The teacher and the all-label runs are those of the ablation experiment
# (configs/experiments/crossmodal_2d3d_ablations.py; run it first, they are reused).
# The 240 labelled 'val' clouds choose the best epoch, more labels than a label-free user has:
# for the label-free and 1 % rows the last-epoch column is the honest one. The labelled 1 % is
# one stratified draw (LabelScarce seed 0) shared by the three seeds.
# `python tools/run_experiment.py configs/experiments/crossmodal_2d3d_label_free.py`
work_dir = 'work_dirs/experiments/crossmodal_2d3d_label_free'
ablations = 'work_dirs/experiments/crossmodal_2d3d_ablations'
metric = 'accuracy/top1'
seeds = [0, 1, 2]
teacher_run = 'teacher (MVCNN on views)'
scratch_run = 'scratch (all labels)'
CONFIGS = 'configs/crossmodal'
SPLITS = ('train', 'val', 'test')

# as the ablations: 40 epochs, no PPKT pairs, a fresh student initialisation per seed
common = {'train_cfg.max_epochs': 40, 'param_scheduler.0.T_max': 40,
          **{f'{s}_dataloader.dataset.return_pixels': False for s in SPLITS}}
scratch = {**common, 'model.init_seed': None}
# KD at T=4, as the ablations' runs (the recipe is T=1 since)
student = {**common, 'model.student.init_seed': None,
           'model.distiller.losses.loss_kd.temperature': 4.0}
label_free = dict(config=f'{CONFIGS}/kd_mvcnn_pointnet_shapes_label_free.py',
                  teacher_from=teacher_run, reuse=True)
runs = [
    dict(name=teacher_run, config=f'{CONFIGS}/mvcnn_teacher_shapes.py', reuse=True, seeds=None,
         work_dir=f'{ablations}/teacher (MVCNN, views of 1024 points)'),
    dict(name=scratch_run, config=f'{CONFIGS}/pointnet_student_shapes_views.py', reuse=True,
         cfg_options=scratch, work_dir=f'{ablations}/scratch'),
    dict(name='scratch (1 % labels)',
         config=f'{CONFIGS}/pointnet_student_shapes_views_label_scarce.py', reuse=True,
         cfg_options=scratch),
    dict(label_free, name='KD, no 3D labels', cfg_options=student),
    dict(label_free, name='KD + 1 % labels',
         cfg_options={**student, 'train_dataloader.dataset.dataset.labelled_fraction': 0.01}),
    # the label term averages over a batch's 0.4 labelled clouds; weighting it by the labelled
    # share (0.01) gives each labelled cloud the weight it has in an all-label batch
    dict(label_free, name='KD + 1 % labels, label term x0.01',
         cfg_options={**student, 'train_dataloader.dataset.dataset.labelled_fraction': 0.01,
                      'model.student_loss_weight': 0.01}),
    # the ablations' best temperature: at T=4 the teacher's targets are nearly flat
    dict(label_free, name='KD at T=1, no 3D labels',
         cfg_options={**student, 'model.distiller.losses.loss_kd.temperature': 1.0}),
    dict(name='KD + all labels', config=f'{CONFIGS}/kd_mvcnn_pointnet_shapes.py',
         teacher_from=teacher_run, reuse=True, cfg_options=student,
         work_dir=f'{ablations}/KD'),
]
