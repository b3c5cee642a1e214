# CLIP-KD's masked feature distillation: FD while the student's ViT sees only half of its patches
# (open_clip's patch dropout, active in training only).
_base_ = ['./fd_clip_scenes.py']
model = dict(
    student=dict(model_cfg=dict(vision_cfg=dict(patch_dropout=0.5))),
    distiller=dict(losses=dict(loss_fd=dict(type='MFDLoss'))))
