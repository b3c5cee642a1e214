"""Fashion-MNIST image-caption pairs: captions true to the image, drawn anew in training (and
replayable from torch's seed), held-out paraphrases for validation, test and zero-shot."""
import pytest
import torch
from mmengine.config import Config

from conftest import REPO
from mmkd.errors import InvalidValueError
from mmkd.vlm import FashionMNISTCaptions
from mmkd.vlm.fashion_mnist_captions import (CLASS_NAMES, HELD_OUT_TEMPLATES, TRAIN_TEMPLATES,
                                             caption, shade)


def test_shade_and_caption_say_only_what_is_true():
    image = torch.zeros(1, 28, 28)
    image[0, 10:20, 10:20] = 0.9
    assert shade(image) == 'light'
    image[0, 10:20, 10:20] = 0.3
    assert shade(image) == 'dark'
    image[0, 10:20, 10:20] = 0.6
    assert shade(image) is None
    assert shade(torch.zeros(1, 28, 28)) is None
    assert caption('a {shade} {name}.', 9, None) == 'an ankle boot.'
    assert caption('a photo of a {shade} {kind}: a {name}.', 5, 'dark') == \
        'a photo of a dark shoe: a sandal.'


def test_training_captions_vary_and_replay_from_the_seed():
    train = FashionMNISTCaptions('train', num_samples=20)
    item = train[3]
    label = item['data_samples']['labels']
    assert item['inputs']['image'].shape == (3, 28, 28)
    assert torch.equal(item['inputs']['image'][0], item['inputs']['image'][2])
    texts = set()
    for seed in range(30):
        torch.manual_seed(seed)
        text = train[3]['inputs']['text']
        torch.manual_seed(seed)
        assert train[3]['inputs']['text'] == text
        texts.add(text)
    assert len(texts) >= 5 and all(CLASS_NAMES[label] in t for t in texts)


def test_evaluation_captions_and_prompts_are_held_out():
    test = FashionMNISTCaptions('test', num_samples=8)
    texts = [test[i]['inputs']['text'] for i in range(8)]
    assert texts == [caption(HELD_OUT_TEMPLATES[i % 4], int(test.true_labels[i]), None)
                     for i in range(8)]
    train_wording = {t.split('{')[0] for t in TRAIN_TEMPLATES}
    assert not train_wording & {t.split('{')[0] for t in HELD_OUT_TEMPLATES}
    assert test.metainfo['templates'][0] == 'a picture of a {}.'
    assert test.metainfo['classes'] == CLASS_NAMES
    with pytest.raises(InvalidValueError, match=r'templates: expected templates that each contain'):
        FashionMNISTCaptions('val', num_samples=4, templates=['a photo.'])


def test_config_prompts_are_the_datasets_held_out_ones():
    """configs/_base_/fashion_mnist_clip.py spells the zero-shot classes and prompts out for the
    model; they must stay the dataset's held-out ones."""
    cfg = Config.fromfile(f'{REPO}/configs/_base_/fashion_mnist_clip.py')
    metainfo = FashionMNISTCaptions('test', num_samples=1).metainfo
    assert tuple(cfg.zero_shot['classes']) == metainfo['classes']
    assert tuple(cfg.zero_shot['templates']) == metainfo['templates']
