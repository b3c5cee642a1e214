# DIST (Huang et al. 2022): inter- and intra-class Pearson relations of the predictions.
_base_ = ['../_base_/digits_distill.py']
model = dict(distiller=dict(losses=dict(
    loss_dist=dict(type='DISTLoss', beta=1.0, gamma=1.0, temperature=1.0, loss_weight=2.0,
                   inputs={{_base_.kd_inputs}}))))
