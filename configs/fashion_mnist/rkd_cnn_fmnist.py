# Relational KD (Park et al. 2019) + KD: distance and angle relations of the pooled features
# (student 16-d, teacher 256-d; relations need no connector), from the cached teacher.
_base_ = ['../_base_/fashion_mnist_distill_cached.py']
model = dict(distiller=dict(losses=dict(
    loss_rkd=dict(type='RKDLoss', distance_weight=25.0, angle_weight=50.0,
                  inputs={{_base_.feat_inputs}}),
    loss_kd=dict(type='KDLoss', temperature=4.0, inputs={{_base_.kd_inputs}}))))
