# PointNet teacher on the synthetic shapes: 0.80 M parameters.
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/synthetic_shapes.py',
          '../_base_/schedules/shapes_40e.py']
model = dict(type='PointNetClassifier', num_classes=12)
