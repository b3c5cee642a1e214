# Per-point feature KD: the student's per-point features [N, 16], through a linear connector,
# regress the teacher's [N, 128] interpolated at the student's points (here both keep the same
# 512 points, so the interpolation is exact), plus KD on the logits.
_base_ = ['../_base_/shapes_distill.py']
model = dict(distiller=dict(
    connectors=dict(feat_s=dict(type='LinearConnector', in_channels=16, out_channels=128)),
    losses=dict(
        loss_point=dict(type='PointFeatureLoss', k=3, loss_weight=1.0, inputs=dict(
            student_feats=dict(source='student.feat', connector='feat_s'),
            student_pos='student.pos', student_batch='student.batch',
            teacher_feats='teacher.feat', teacher_pos='teacher.pos',
            teacher_batch='teacher.batch')),
        loss_kd=dict(type='KDLoss', temperature=4.0, loss_weight=1.0,
                     inputs={{_base_.kd_inputs}}))))
