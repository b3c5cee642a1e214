# The CLIP loss plus the image tower distilled from EfficientNet-Lite0's ImageNet features.
_base_ = ['../_base_/fashion_mnist_clip_distill.py']
model = dict(distiller=dict(connectors=dict(image_s={{_base_.image_connector}}),
                            losses=dict(loss_image=_base_.image_kd)))
