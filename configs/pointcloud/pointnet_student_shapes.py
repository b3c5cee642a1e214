# The student trained alone ("scratch"): PointNet at 1/8 width, 13 k parameters.
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/synthetic_shapes.py',
          '../_base_/schedules/shapes_40e.py']
model = dict(type='PointNetClassifier', num_classes=12, width=0.125)
