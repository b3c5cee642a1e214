# CLIP -> 3D reference with labels: the same ULIPPointEncoder trained alone with cross-entropy of
# its scores against the frozen CLIP class-prompt embeddings (no teacher; a supervised
# classifier whose head is the text tower's prompts). About 10 min here on 2 shared cores.
_base_ = ['../_base_/clip3d_distill.py']
model = dict(_delete_=True, type='ULIPPointEncoder', embed_dim=64,
             backbone=dict(type='PointNetClassifier', num_classes=1, width=0.25),
             text_encoder={{_base_.text_encoder}},
             zero_shot={{_base_.zero_shot}})
