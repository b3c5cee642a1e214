# Shared by the point-cloud distillation configs: a PointNet teacher (0.80 M parameters) and a
# PointNet student at 1/8 width (13 k), both on the same 512 points of each synthetic shape.
_base_ = ['./shapes.py']
teacher_cfg = dict(type='PointNetClassifier', num_classes=12)
student_cfg = dict(type='PointNetClassifier', num_classes=12, width=0.125)
# Written by `python tools/train.py configs/pointcloud/pointnet_teacher_shapes.py`.
teacher_checkpoint = 'work_dirs/pointnet_teacher_shapes/epoch_40.pth'
# Logits, and for the point losses the per-point features after the encoder's second layer
# (teacher [N, 128], student [N, 16]; the last layer's 1024 channels make a connector cost more
# than the student), their coordinates (the encoder's input: no extra point features) and their
# cloud indices (the second input of the global pool).
recorders = dict(logits='head', feat='encoder.5', pos=dict(source='encoder', kind='input'),
                 batch=dict(source='pool', kind='input', index=1))
model = dict(
    type='Distill',
    student=student_cfg,
    teachers=dict(teacher=dict(model=teacher_cfg, checkpoint=teacher_checkpoint)),
    distiller=dict(
        recorders=dict(student=recorders, teacher=recorders),
        losses=dict()))
