# The CLIP loss plus both: the image tower from EfficientNet-Lite0, the text tower from MiniLM.
_base_ = ['../_base_/fashion_mnist_clip_distill.py']
model = dict(distiller=dict(
    connectors=dict(image_s={{_base_.image_connector}}, text_s={{_base_.text_connector}}),
    losses=dict(loss_image=_base_.image_kd, loss_text=_base_.text_kd)))
