# FitNets (Romero et al. 2015) + KD: the student's last map [N, 16, 7, 7] through a 1x1 conv
# connector regresses the teacher's stage-3 map [N, 128, 7, 7]. The teacher runs live (its maps
# are too large to cache: 25 kB per image and augmentation).
_base_ = ['../_base_/fashion_mnist_distill.py']
model = dict(distiller=dict(
    recorders=dict(student=dict(map='backbone.stage3'), teacher=dict(map='backbone.stage3')),
    connectors=dict(map_s=dict(type='ConvConnector', in_channels=16, out_channels=128)),
    losses=dict(
        loss_fitnet=dict(type='FeatureMSELoss', loss_weight=1.0,
                         inputs=dict(student_feats=dict(source='student.map', connector='map_s'),
                                     teacher_feats='teacher.map')),
        loss_kd=dict(type='KDLoss', temperature=4.0, inputs={{_base_.kd_inputs}}))))
