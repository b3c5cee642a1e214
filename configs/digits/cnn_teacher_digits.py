# Teacher: a 3-stage CNN (about 0.3 M parameters).
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/digits.py',
          '../_base_/schedules/digits_30e.py']
model = dict(type='ConvClassifier', channels=(32, 64, 128), convs_per_stage=2)
