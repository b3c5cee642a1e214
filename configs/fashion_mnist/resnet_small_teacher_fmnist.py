# A second, narrower teacher for multi-teacher KD: the ResNet of resnet_teacher_fmnist.py at half
# the width from the second stage on (16/32/64/128 channels, 0.3 M parameters).
_base_ = ['./resnet_teacher_fmnist.py']
model = dict(channels=(16, 32, 64, 128))
