# Hinton KD: cross-entropy + T^2 KL(teacher || student) at T=4.
_base_ = ['../_base_/shapes_distill.py']
model = dict(distiller=dict(losses=dict(
    loss_kd=dict(type='KDLoss', temperature=4.0, loss_weight=1.0,
                 inputs={{_base_.kd_inputs}}))))
