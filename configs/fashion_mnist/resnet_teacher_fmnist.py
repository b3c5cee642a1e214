# Teacher: a ResNet of 1.2 M parameters (a 16-channel 3x3 stem, four stages of one basic block
# each at 28, 14, 7 and 4 px with 16/64/128/256 channels), about 2.3 min per epoch on 2 cores.
_base_ = ['../_base_/fashion_mnist.py', '../_base_/schedules/fashion_mnist_teacher_15e.py']
model = dict(type='ResNetClassifier', channels=(16, 64, 128, 256), blocks=1)
