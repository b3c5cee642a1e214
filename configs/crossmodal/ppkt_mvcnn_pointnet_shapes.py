# 2D -> 3D PPKT + logit KD: every visible (view, point) pair is a positive pair of the point's
# feature (the student's per-point features [B * 128, 128] through a linear connector to 64)
# and the teacher's last feature map at the point's pixel ([B, 6, 64, 8, 8]; a map cell covers
# 4 x 4 view pixels); up to 1024 random pairs per batch (the radius-1 visibility test keeps
# about 540 of a 32-cloud batch's 24 576, so all of them), InfoNCE at tau 0.07 with the other
# pairs' pixels as negatives. Plus KD at T=4. About 3.5 min here on 2 cores shared with other jobs.
_base_ = ['../_base_/shapes_views_distill.py']
model = dict(distiller=dict(
    connectors=dict(points_s=dict(type='LinearConnector', in_channels=128, out_channels=64)),
    losses=dict(
        loss_ppkt=dict(type='PointPixelContrastiveLoss', num_pairs=1024, temperature=0.07,
                       image_size=32, loss_weight=1.0, inputs=dict(
                           student_feats=dict(source='student.points', connector='points_s'),
                           teacher_maps='teacher.maps', pixels='batch.pixels',
                           visible='batch.visible')),
        loss_kd=dict(type='KDLoss', temperature=4.0, loss_weight=1.0,
                     inputs={{_base_.kd_inputs}}))))
