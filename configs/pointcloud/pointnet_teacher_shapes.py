# PointNet teacher on the synthetic shapes: 0.80 M parameters.
_base_ = ['../_base_/shapes.py']
model = dict(type='PointNetClassifier', num_classes=12)
