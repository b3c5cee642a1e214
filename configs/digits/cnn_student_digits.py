# Student trained from scratch: a 2-stage CNN with a few hundred parameters.
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/digits.py',
          '../_base_/schedules/digits_30e.py']
model = dict(type='ConvClassifier', channels=(4, 8), convs_per_stage=1)
