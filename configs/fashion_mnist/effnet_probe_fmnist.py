# Pretrained teacher: EfficientNet-Lite0 with its ImageNet weights, frozen, and a new linear head
# trained on Fashion-MNIST (a linear probe); the network sees the images through its own pipeline
# (configs/_base_/models/efficientnet_lite0.py). 3 epochs of SGD with cosine decay; only the
# 12 810 parameters of the head learn.
_base_ = ['../_base_/fashion_mnist.py', '../_base_/schedules/fashion_mnist_student_20e.py',
          '../_base_/models/efficientnet_lite0.py']
model = dict(type='PretrainedClassifier', backbone={{_base_.efficientnet_lite0}}, head_name='_fc',
             inputs={{_base_.efficientnet_inputs}}, freeze_backbone=True)
# the pooled feature's norm is about 60 here: lr 0.01 (the students' 0.1 makes the loss jump early)
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=3, by_epoch=True, begin=0, end=3,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=3)
