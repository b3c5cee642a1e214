# The CLIP student on Fashion-MNIST captions trained alone, with the CLIP loss ("scratch").
_base_ = ['../_base_/fashion_mnist_clip.py']
model = dict(type='OpenCLIPModel', model_cfg={{_base_.student_clip}},
             zero_shot={{_base_.zero_shot}})
