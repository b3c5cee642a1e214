# Probabilistic KT (Passalis & Tefas 2018) + KD: cosine-kernel conditional probabilities of the
# pooled features, from the cached teacher.
_base_ = ['../_base_/fashion_mnist_distill_cached.py']
model = dict(distiller=dict(losses=dict(
    loss_pkt=dict(type='PKTLoss', loss_weight=30.0, inputs={{_base_.feat_inputs}}),
    loss_kd=dict(type='KDLoss', temperature=4.0, inputs={{_base_.kd_inputs}}))))
