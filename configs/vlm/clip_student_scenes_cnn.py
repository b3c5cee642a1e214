# The student with a small CNN image tower, trained alone: open_clip's ModifiedResNet with one
# bottleneck per stage at width 16 (1.33 M image-tower parameters, of which 1.05 M are the
# attention pool) at 32 px, in place of the 4x4-token ViT that learnt colours but not shapes.
_base_ = ['./clip_student_scenes.py']
model = dict(model_cfg=dict(vision_cfg=dict(
    _delete_=True, image_size=32, layers=(1, 1, 1, 1), width=16, head_width=16)))
