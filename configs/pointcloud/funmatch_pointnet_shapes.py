# Patient and consistent function matching (Beyer et al., CVPR 2022) for the 1/8-width PointNet:
# no labels, the student matches the teacher's prediction (KL at T=1) on the very same augmented
# points, over a long schedule (200 epochs), from a cache of 32 augmentations per cloud (4 times
# the 40-epoch runs' 8), so the patient schedule costs what training the student alone does.
_base_ = ['../_base_/shapes_distill_cached.py']
teacher_cache_dir = 'work_dirs/teacher_cache/shapes_pointnet_32augs'
model = dict(
    student_loss_weight=0.0,
    teacher_cache=dict(path=teacher_cache_dir),
    distiller=dict(losses=dict(
        loss_kd=dict(type='KDLoss', temperature=1.0, inputs={{_base_.kd_inputs}}))))
train_dataloader = dict(dataset=dict(path=teacher_cache_dir, num_augs=32))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=200, by_epoch=True,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=200, val_interval=10)
