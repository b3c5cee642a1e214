# The CLIP runs on the synthetic captioned scenes: the data, and the epoch of best validation
# zero-shot top-1 kept beside the last two (the experiment runner tests both).
_base_ = ['./default_runtime.py', './datasets/synthetic_scenes.py']
default_hooks = dict(checkpoint=dict(save_best='zeroshot/top1', rule='greater'))
