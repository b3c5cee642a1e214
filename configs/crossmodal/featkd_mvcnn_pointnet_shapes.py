# 2D -> 3D feature KD + logit KD: the student's global (max-pooled) point feature [B, 128],
# through a linear connector, regresses the teacher's view-pooled image feature [B, 64] (MSE),
# plus KD at T=4. About 3 min here on 2 cores shared with other training jobs.
_base_ = ['../_base_/shapes_views_distill.py']
model = dict(distiller=dict(
    connectors=dict(feat_s=dict(type='LinearConnector', in_channels=128, out_channels=64)),
    losses=dict(
        loss_feat=dict(type='FeatureMSELoss', loss_weight=1.0, inputs=dict(
            student_feats=dict(source='student.feat', connector='feat_s'),
            teacher_feats='teacher.feat')),
        loss_kd=dict(type='KDLoss', temperature=4.0, loss_weight=1.0,
                     inputs={{_base_.kd_inputs}}))))
