# Attention transfer (Zagoruyko & Komodakis 2017) + KD: spatial attention maps of the 14 px and
# 7 px stages (the teacher runs live), weight 1000 as in the paper's beta/2 per pair.
_base_ = ['../_base_/fashion_mnist_distill.py']
model = dict(distiller=dict(
    recorders=dict(student=dict(map2='backbone.stage2', map3='backbone.stage3'),
                   teacher=dict(map2='backbone.stage2', map3='backbone.stage3')),
    losses=dict(
        loss_at2=dict(type='ATLoss', loss_weight=1000.0,
                      inputs=dict(student_feats='student.map2', teacher_feats='teacher.map2')),
        loss_at3=dict(type='ATLoss', loss_weight=1000.0,
                      inputs=dict(student_feats='student.map3', teacher_feats='teacher.map3')),
        loss_kd=dict(type='KDLoss', temperature=4.0, inputs={{_base_.kd_inputs}}))))
