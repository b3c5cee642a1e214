# The 2D -> 3D student trained alone ("scratch"): PointNet at 1/8 width (13 k parameters) on 128
# of the 1024 points the image teacher's views are rendered from. About 1.3 min here (shared cores).
_base_ = ['../_base_/shapes_views.py']
model = dict(type='PointNetClassifier', num_classes=12, width=0.125)
