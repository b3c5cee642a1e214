# The 2D -> 3D image teacher: an MVCNN (a 3-stage CNN shared by the views, max over the views,
# 24 k parameters) trained alone on 6 depth views of 32 px of each shape (from 1024 points).
# 5 to 7 min here on 2 cores shared with other training jobs.
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/synthetic_shapes_views.py',
          '../_base_/schedules/shapes_views_20e.py']
model = dict(type='MultiViewImageClassifier', channels=(16, 32, 64), num_classes=12)
# the views are its inputs (the distillation runs give it data_samples['views'] instead)
train_dataloader = dict(dataset=dict(inputs='views', return_pixels=False))
val_dataloader = dict(dataset=dict(inputs='views', return_pixels=False))
test_dataloader = val_dataloader
