# FitNets (Romero et al. 2015): the student's last feature map [N, 8, 4, 4], through a 1x1 conv
# connector, regresses the teacher's stage-2 map [N, 64, 4, 4]; plus KD on the logits.
_base_ = ['../_base_/digits_distill.py']
model = dict(distiller=dict(
    recorders=dict(student=dict(feat='backbone'), teacher=dict(hint='backbone.stage2')),
    connectors=dict(feat_s=dict(type='ConvConnector', in_channels=8, out_channels=64)),
    losses=dict(
        loss_fitnet=dict(type='FeatureMSELoss', loss_weight=1.0,
                         inputs=dict(student_feats=dict(source='student.feat', connector='feat_s'),
                                     teacher_feats='teacher.hint')),
        loss_kd=dict(type='KDLoss', temperature=4.0, loss_weight=1.0,
                     inputs={{_base_.kd_inputs}}))))
