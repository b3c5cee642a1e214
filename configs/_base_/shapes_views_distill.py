# Shared by the 2D -> 3D distillation configs: the MVCNN image teacher
# (configs/crossmodal/mvcnn_teacher_shapes.py), which reads the depth views from
# data_samples['views'], and the PointNet student at 1/8 width (13 k parameters) on 128 of the
# 1024 points the views are rendered from.
_base_ = ['./shapes_views.py']
teacher_cfg = dict(type='MultiViewImageClassifier', channels=(16, 32, 64), num_classes=12)
student_cfg = dict(type='PointNetClassifier', num_classes=12, width=0.125)
# Written by `python tools/train.py configs/crossmodal/mvcnn_teacher_shapes.py` (the experiment
# configs/experiments/crossmodal_2d3d.py points it at its own teacher run).
teacher_checkpoint = 'work_dirs/mvcnn_teacher_shapes/epoch_60.pth'
model = dict(
    type='Distill',
    student=student_cfg,
    teachers=dict(teacher=dict(model=teacher_cfg, checkpoint=teacher_checkpoint,
                               inputs='batch.views')),
    distiller=dict(
        # student: logits, global feature [B, 128], per-point features [B * 128, 128];
        # teacher: logits, view-pooled feature [B, 64], last maps [B, 6, 64, 8, 8]
        recorders=dict(student=dict(logits='head', feat='pool', points='encoder'),
                       teacher=dict(logits='head', feat='pooled', maps='view_maps')),
        losses=dict()))
