# The CLIP loss plus the text tower distilled from all-MiniLM-L6-v2's sentence embeddings.
_base_ = ['../_base_/fashion_mnist_clip_distill.py']
model = dict(distiller=dict(connectors=dict(text_s={{_base_.text_connector}}),
                            losses=dict(loss_text=_base_.text_kd)))
