# Similarity-preserving KD (Tung & Mori 2019) + KD: the batch's pooled-feature similarity
# matrices, weight 3000 as in the paper, from the cached teacher.
_base_ = ['../_base_/fashion_mnist_distill_cached.py']
model = dict(distiller=dict(losses=dict(
    loss_sp=dict(type='SPLoss', loss_weight=3000.0, inputs={{_base_.feat_inputs}}),
    loss_kd=dict(type='KDLoss', temperature=4.0, inputs={{_base_.kd_inputs}}))))
