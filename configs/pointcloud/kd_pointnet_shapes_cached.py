# Hinton KD (T=4) as kd_pointnet_shapes.py, the teacher's logits read from the teacher-output cache
# (8 augmentations per cloud) instead of a live teacher.
_base_ = ['../_base_/shapes_distill_cached.py']
model = dict(distiller=dict(losses=dict(
    loss_kd=dict(type='KDLoss', temperature=4.0, inputs={{_base_.kd_inputs}}))))
