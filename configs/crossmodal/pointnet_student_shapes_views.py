# The 2D -> 3D student trained alone ("scratch"): PointNet at 1/8 width (13 k parameters) on 128
# of the 1024 points the image teacher's views are rendered from. About 1.3 min here (shared cores).
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/synthetic_shapes_views.py',
          '../_base_/schedules/shapes_views_20e.py']
model = dict(type='PointNetClassifier', num_classes=12, width=0.125)
# keep the epoch of best validation top-1 too (the experiment runner tests it and the last)
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1', rule='greater'))
