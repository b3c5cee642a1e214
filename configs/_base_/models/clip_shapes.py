# A tiny open_clip architecture (inline config) for captioned depth views of the synthetic
# shapes: a CNN image tower (timm's resnet10t, random init, through open_clip's timm adapter;
# 32 px depth views) and a 2-layer text transformer of width 64, in a 64-d embedding space.
# 8.2 M parameters: 5.0 M in the image tower, 3.3 M in the text tower (3.2 M of them its token
# embedding).
shapes_clip = dict(
    embed_dim=64,
    vision_cfg=dict(image_size=32, timm_model_name='resnet10t', timm_model_pretrained=False,
                    timm_pool='avg', timm_proj='linear'),
    text_cfg=dict(context_length=16, vocab_size=49408, width=64, heads=2, layers=2))
# the zero-shot classifier: the 12 class names of SyntheticShapes through the caption templates
# (mmkd.crossmodal.datasets.DEPTH_TEMPLATES)
zero_shot = dict(classes=['box', 'sphere', 'cylinder', 'cone', 'torus', 'capsule', 'table',
                          'chair', 'lamp', 'mushroom', 'arrow', 'octahedron'],
                 templates=['a depth image of a {}.', 'a depth map of a {}.',
                            'a rendering of a {}.', 'a 3d model of a {}.'])
