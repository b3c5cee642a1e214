# 2D -> 3D logit KD: the MVCNN teacher's softened predictions on the depth views teach the
# PointNet x1/8 student on the points (cross-entropy + T^2 KL at T=4). About 3.5 min here on
# 2 CPU cores shared with other training jobs.
_base_ = ['../_base_/shapes_views_distill.py']
model = dict(distiller=dict(losses=dict(
    loss_kd=dict(type='KDLoss', temperature=4.0, loss_weight=1.0,
                 inputs={{_base_.kd_inputs}}))))
