# The point-cloud runs on the synthetic shapes: the data, the 40-epoch schedule, and the epoch of
# best validation top-1 kept beside the last two (the experiment runner tests both).
_base_ = ['./default_runtime.py', './datasets/synthetic_shapes.py', './schedules/shapes_40e.py']
default_hooks = dict(checkpoint=dict(save_best='accuracy/top1', rule='greater'))
