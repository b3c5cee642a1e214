# Tiny open_clip architectures (inline configs) for the synthetic scenes: a teacher and a student
# that differ in image tower, image size, embedding dim, width, depth and context length.
# The teacher's image tower is a CNN (timm's resnet10t, random init, through open_clip's timm
# adapter): a 4-layer ViT trained the same way learnt colours and positions but not shapes
# (zero-shot 22 %, linear probe on its image embeddings 23 % after 4 epochs).
teacher_clip = dict(
    embed_dim=128,
    vision_cfg=dict(image_size=48, timm_model_name='resnet10t', timm_model_pretrained=False,
                    timm_pool='avg', timm_proj='linear'),
    text_cfg=dict(context_length=32, vocab_size=49408, width=128, heads=4, layers=4))
student_clip = dict(
    embed_dim=64,
    vision_cfg=dict(image_size=32, layers=2, width=64, patch_size=8, head_width=32),
    text_cfg=dict(context_length=24, vocab_size=49408, width=64, heads=2, layers=2))
