# Student trained alone: a 3-stage CNN (one 3x3 conv-BN-ReLU per stage, 4/8/16 channels at 28, 14
# and 7 px), 1.7 k parameters.
_base_ = ['../_base_/fashion_mnist.py', '../_base_/schedules/fashion_mnist_student_20e.py']
model = dict(type='ConvClassifier', channels=(4, 8, 16), convs_per_stage=1)
