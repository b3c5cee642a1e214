# Hinton KD: cross-entropy + T^2 KL(teacher || student) at T=4, from the cached teacher.
_base_ = ['../_base_/fashion_mnist_distill_cached.py']
model = dict(distiller=dict(losses=dict(
    loss_kd=dict(type='KDLoss', temperature=4.0, inputs={{_base_.kd_inputs}}))))
