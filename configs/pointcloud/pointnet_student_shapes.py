# The student trained alone ("scratch"): PointNet at 1/8 width, 13 k parameters.
_base_ = ['../_base_/shapes.py']
model = dict(type='PointNetClassifier', num_classes=12, width=0.125)
