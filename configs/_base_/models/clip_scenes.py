# Tiny open_clip architectures (inline configs) for the synthetic scenes: a teacher and a student
# that differ in image size, embedding dim, width, depth and context length.
teacher_clip = dict(
    embed_dim=128,
    vision_cfg=dict(image_size=48, layers=4, width=128, patch_size=8, head_width=32),
    text_cfg=dict(context_length=32, vocab_size=49408, width=128, heads=4, layers=4))
student_clip = dict(
    embed_dim=64,
    vision_cfg=dict(image_size=32, layers=2, width=64, patch_size=8, head_width=32),
    text_cfg=dict(context_length=24, vocab_size=49408, width=64, heads=2, layers=2))
