# The 2D -> 3D runs on the synthetic shapes with depth views: the data, the 20-epoch schedule, and
# the epoch of best validation top-1 kept beside the last two (the experiment runner tests both).
_base_ = ['./default_runtime.py', './datasets/synthetic_shapes_views.py',
          './schedules/shapes_views_20e.py']
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1', rule='greater'))
