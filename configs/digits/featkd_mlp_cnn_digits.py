# Feature regression through an MLP connector: the student's pooled feature [N, 8] goes through
# Linear -> ReLU -> Linear to the teacher's pooled feature [N, 128] (MSE, as FitNets on vectors);
# plus KD on the logits.
_base_ = ['../_base_/digits_distill.py']
model = dict(distiller=dict(
    recorders=dict(student=dict(feat='pool'), teacher=dict(feat='pool')),
    connectors=dict(feat_s=dict(type='MLPConnector', in_channels=8, out_channels=128,
                                hidden_channels=64)),
    losses=dict(
        loss_feat=dict(type='FeatureMSELoss', loss_weight=1.0,
                       inputs=dict(student_feats=dict(source='student.feat', connector='feat_s'),
                                   teacher_feats='teacher.feat')),
        loss_kd=dict(type='KDLoss', temperature=4.0, loss_weight=1.0,
                     inputs={{_base_.kd_inputs}}))))
