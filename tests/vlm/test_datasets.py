"""mmkd.vlm.datasets: synthetic scenes (determinism, cache, captions), the open_clip CSV loader
and the captioned image folder, on small real files written with PIL in tmp_path."""
import json
import os
import os.path as osp
import re
import warnings

import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate
from PIL import Image
from torch.utils.data import DataLoader

from mmkd.errors import ConfigError
from mmkd.registry import DATASETS
from mmkd.vlm.datasets import (COLORS, SHAPES, CaptionScarce, CsvImageText,
                               ImageFolderCaptions, SyntheticCaptionedScenes, sample_scene,
                               save_caption_grid)

SMALL = dict(num_train=48, num_test=16, image_size=32, progress=False)


def scenes(**kwargs):
    args = dict(SMALL, cache_dir=None)
    args.update(kwargs)
    return SyntheticCaptionedScenes(**args)


def check_batch(batch, size, n):
    inputs, samples = batch['inputs'], batch['data_samples']
    assert inputs['image'].shape == (n, 3, size, size)
    assert inputs['image'].dtype == torch.float32
    assert 0.0 <= inputs['image'].min() and inputs['image'].max() <= 1.0
    assert isinstance(inputs['text'], list) and len(inputs['text']) == n
    assert all(isinstance(t, str) for t in inputs['text'])
    assert samples['labels'].dtype == torch.int64 and samples['labels'].shape == (n,)
    assert samples['sample_idx'].dtype == torch.int64 and samples['sample_idx'].shape == (n,)


# ----------------------------------------------------------------------------- synthetic scenes
def test_scenes_items_metainfo_and_collate():
    ds = scenes()
    assert len(ds) == 48 and len(scenes(split='test')) == 16
    assert ds.metainfo['classes'] == ('circle', 'square', 'triangle', 'star', 'cross', 'ring',
                                      'diamond', 'heart')
    assert ds.metainfo['templates'] and all('{}' in t for t in ds.metainfo['templates'])
    item = ds[3]
    assert item['inputs']['image'].shape == (3, 32, 32)
    assert item['inputs']['image'].dtype == torch.float32
    assert isinstance(item['inputs']['text'], str)
    assert item['data_samples'] == dict(labels=3, sample_idx=3)
    assert ds[-1]['data_samples']['sample_idx'] == 47
    with pytest.raises(IndexError, match='out of range'):
        ds[48]
    batch = default_collate([ds[i] for i in range(5)])
    check_batch(batch, 32, 5)
    assert batch['data_samples']['labels'].tolist() == [0, 1, 2, 3, 4]
    loader = DataLoader(ds, batch_size=8, shuffle=True, collate_fn=default_collate)
    check_batch(next(iter(loader)), 32, 8)
    # images are not trivially blank: objects differ from the background
    assert ds.images.std(axis=(1, 2, 3)).min() > 5
    assert DATASETS.get('SyntheticCaptionedScenes') is SyntheticCaptionedScenes


def test_scenes_deterministic_for_a_seed():
    a, b = scenes(seed=1), scenes(seed=1)
    assert a.images.tobytes() == b.images.tobytes()
    assert a.texts == b.texts and a.labels == b.labels
    c = scenes(seed=2)
    assert a.images.tobytes() != c.images.tobytes()
    assert a.texts != c.texts
    assert a.labels == c.labels  # balanced by index, whatever the seed
    # train and test differ for the same seed
    test = scenes(seed=1, split='test', num_test=48)
    assert a.images.tobytes() != test.images.tobytes()
    # sample i depends only on (seed, split, i), not on how many samples are made
    shorter = scenes(seed=1, num_train=10)
    assert shorter.images.tobytes() == a.images[:10].tobytes()


def test_scenes_val_split_is_held_out():
    """The validation split is new scenes, and adding it left the train and test streams (and
    so every cached file) as they were: split ids 0 and 1."""
    train, test = scenes(seed=1), scenes(seed=1, split='test', num_test=48)
    val = scenes(seed=1, split='val', num_val=48)
    assert len(val) == 48 and val.labels == train.labels
    for other in (train, test):
        assert not (val.images[:, None] == other.images[None]).all(axis=(2, 3, 4)).any()
    assert scenes(seed=1, split='val', num_val=6).texts == val.texts[:6]


def test_scenes_train_and_test_files_kept_their_names(tmp_path):
    """The cache file names hash the generation parameters: pinned, so that a new parameter
    (such as num_val) cannot silently orphan every cached train and test file."""
    names = [osp.basename(scenes(seed=1, split=split, cache_dir=str(tmp_path)).cache_file)
             for split in ('train', 'test')]
    assert names == ['synthetic_scenes_train_n48_i32_s1_9891b33e58.npz',
                     'synthetic_scenes_test_n16_i32_s1_61934d23ab.npz']


def test_scenes_cache_written_once_and_reused(tmp_path):
    first = scenes(cache_dir=str(tmp_path))
    assert first.generated
    files = os.listdir(tmp_path)
    assert len(files) == 1 and files[0].startswith('synthetic_scenes_train_n48_i32_s0_')
    assert files[0].endswith('.npz') and first.cache_file == str(tmp_path / files[0])
    mtime = os.stat(first.cache_file).st_mtime_ns
    second = scenes(cache_dir=str(tmp_path))
    assert not second.generated
    assert os.stat(second.cache_file).st_mtime_ns == mtime
    assert second.images.tobytes() == first.images.tobytes()
    assert second.texts == first.texts and second.labels == first.labels
    # cached data equal freshly generated in-memory data
    assert scenes().images.tobytes() == second.images.tobytes()
    with np.load(first.cache_file, allow_pickle=False) as f:  # no pickled objects inside
        assert f['images'].dtype == np.uint8 and f['images'].shape == (48, 32, 32, 3)
        assert f['captions'].dtype.kind == 'U' and f['labels'].dtype == np.int64
    assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]


def test_scenes_cache_key_changes_with_params(tmp_path):
    names = set()
    for kwargs in (dict(), dict(seed=1), dict(noise_std=0.0), dict(image_size=24),
                   dict(label_type='color'), dict(distractor_prob=0.0),
                   dict(shapes=('circle', 'square'))):
        ds = scenes(cache_dir=str(tmp_path), **kwargs)
        assert ds.generated
        names.add(os.path.basename(ds.cache_file))
    assert len(names) == 7 and len(os.listdir(tmp_path)) == 7
    # the test split has its own file
    assert scenes(cache_dir=str(tmp_path), split='test').generated


def test_scenes_corrupt_cache_is_regenerated(tmp_path):
    good = scenes(cache_dir=str(tmp_path))
    for content in (b'not an npz file', None):
        if content is None:  # a valid npz with the wrong content
            np.savez(good.cache_file, images=np.zeros((2, 32, 32, 3), np.uint8),
                     captions=np.array(['a', 'b']), labels=np.zeros(2, np.int64))
        else:
            with open(good.cache_file, 'wb') as f:
                f.write(content)
        with pytest.warns(UserWarning, match=re.escape(good.cache_file) + '.*regenerating'):
            again = scenes(cache_dir=str(tmp_path))
        assert again.generated
        assert again.images.tobytes() == good.images.tobytes() and again.texts == good.texts
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            assert not scenes(cache_dir=str(tmp_path)).generated  # repaired file is used


@pytest.mark.parametrize('label_type', ['shape', 'color', 'shape_color'])
def test_scenes_captions_mention_the_label(label_type):
    ds = scenes(label_type=label_type, num_train=200)
    classes = ds.metainfo['classes']
    if label_type == 'shape_color':
        assert len(classes) == 64 and 'red circle' in classes
    for text, label in zip(ds.texts, ds.labels):
        assert re.search(r'\b' + re.escape(classes[label]), text), (text, classes[label])
    if label_type == 'shape':
        # the labelled (main) object is the first shape the caption names
        words = '|'.join(SHAPES)
        for text, label in zip(ds.texts, ds.labels):
            assert re.search(rf'\b({words})', text).group(1) == classes[label], text
    if label_type == 'color':
        words = '|'.join(COLORS)
        for text, label in zip(ds.texts, ds.labels):
            assert re.search(rf'\b({words})\b', text).group(1) == classes[label], text


def test_scenes_balance_and_variety():
    ds = scenes(num_train=400)
    counts = np.bincount(ds.labels, minlength=8)
    assert counts.max() - counts.min() <= 1
    texts = ds.texts
    assert len(set(texts)) > 300  # compositional, not a handful of strings
    for word in (' above ', ' below ', 'to the left of', 'to the right of', 'on the left',
                 'on the right', 'at the top', 'at the bottom', 'in the center', 'two ',
                 'three ', 'small ', 'large '):
        assert any(word in t for t in texts), word
    for color in ds.params['colors']:
        assert any(f' {color} ' in t for t in texts), color
    assert 0.2 < np.mean([t.startswith('there') for t in texts]) < 0.5  # template mix


def test_scene_distractors_are_tiny_and_unmentioned():
    rng = np.random.default_rng(0)
    for i in range(100):
        objects, caption = sample_scene(rng, 'star', 'red', SHAPES[:8], list(COLORS),
                                        distractor_prob=1.0)
        main, extra = objects[0], [o for o in objects if not o['mentioned']]
        assert main['shape'] == 'star' and main['color'] == 'red' and 'red star' in caption
        assert max(objects, key=lambda o: o['radius'])['shape'] == 'star'  # main = largest
        assert len(extra) <= 1
        for o in extra:
            assert o['shape'] not in caption and o['color'] != 'red'
            assert o['radius'] < min(m['radius'] for m in objects if m['mentioned'])
    assert sum(not o['mentioned'] for o in objects) == 1
    # distractors change images, not captions
    a, b = scenes(distractor_prob=0.0), scenes(distractor_prob=1.0)
    assert a.texts == b.texts and a.images.tobytes() != b.images.tobytes()


def test_scenes_bad_args():
    with pytest.raises(ValueError, match=r"split: expected one of \['train', 'test', 'val'\]"):
        scenes(split='valid')
    with pytest.raises(ValueError, match='label_type'):
        scenes(label_type='size')
    with pytest.raises(ValueError, match='shapes'):
        scenes(shapes=('circle', 'blob'))
    with pytest.raises(ValueError, match='colors'):
        scenes(colors=('red',))


def test_save_caption_grid(tmp_path):
    ds = scenes(num_train=6)
    path = save_caption_grid(ds, range(6), str(tmp_path / 'sub' / 'grid.png'), ncols=3)
    with Image.open(path) as img:
        assert img.format == 'PNG' and img.size[0] > 300
    assert os.listdir(tmp_path / 'sub') == ['grid.png']
    with pytest.raises(ValueError, match='no indices'):
        save_caption_grid(ds, [], str(tmp_path / 'x.png'))


# ----------------------------------------------------------------------------- CSV
def write_png(path, size=(40, 30), color=(255, 0, 0), left_color=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new('RGB', size, color)
    if left_color is not None:  # a stripe on the far left, removed by the centre crop
        img.paste(left_color, (0, 0, 5, size[1]))
    img.save(path)


@pytest.fixture
def csv_root(tmp_path):
    write_png(tmp_path / 'imgs' / 'a.png', (40, 30), (255, 0, 0), left_color=(0, 0, 255))
    write_png(tmp_path / 'imgs' / 'b.png', (20, 50), (0, 255, 0))
    write_png(tmp_path / 'c.png', (16, 16), (0, 0, 255))
    rows = [('filepath', 'title'), ('imgs/a.png', 'a red picture'),
            ('imgs/b.png', 'a green, tall picture'), (str(tmp_path / 'c.png'), 'blue')]
    (tmp_path / 'train.csv').write_text('\n'.join('\t'.join(r) for r in rows) + '\n')
    return tmp_path


def test_csv_open_clip_defaults(csv_root):
    ds = CsvImageText(str(csv_root / 'train.csv'), image_size=24)
    assert len(ds) == 3 and ds.metainfo == {} and ds.labels == [-1, -1, -1]
    item = ds[0]
    assert item['inputs']['text'] == 'a red picture'
    image = item['inputs']['image']
    assert image.shape == (3, 24, 24) and image.dtype == torch.float32
    # centre crop removed the blue stripe; red everywhere (bicubic keeps flat colours)
    assert torch.allclose(image[:, :, 0], torch.tensor([1.0, 0.0, 0.0])[:, None], atol=0.02)
    assert ds[1]['inputs']['text'] == 'a green, tall picture'
    assert ds[2]['inputs']['image'][2].mean() > 0.98  # absolute path, upscaled
    batch = default_collate([ds[i] for i in range(3)])
    check_batch(batch, 24, 3)
    assert batch['data_samples']['labels'].tolist() == [-1, -1, -1]
    assert CsvImageText(str(csv_root / 'train.csv'), image_size=None)[2]['inputs'][
        'image'].shape == (3, 16, 16)


def test_csv_custom_separator_keys_root_and_labels(csv_root, tmp_path):
    ann = tmp_path / 'meta' / 'ann.csv'
    ann.parent.mkdir()
    ann.write_text('image;caption;cls\nimgs/a.png;"red; warm";hot\nimgs/b.png;green;cold\n'
                   '\nc.png;blue;cold\n')
    ds = CsvImageText(str(ann), img_key='image', caption_key='caption', sep=';',
                      data_root=str(csv_root), image_size=8, label_key='cls')
    assert ds.texts == ['red; warm', 'green', 'blue']
    assert ds.metainfo['classes'] == ('cold', 'hot') and ds.labels == [1, 0, 0]
    assert ds.metainfo['templates'][0] == 'a photo of a {}.'
    batch = default_collate([ds[i] for i in range(3)])
    check_batch(batch, 8, 3)
    assert batch['data_samples']['labels'].tolist() == [1, 0, 0]
    # explicit classes and integer labels
    ann.write_text('image,caption,cls\nimgs/a.png,red,2\nimgs/b.png,green,dog\n')
    ds = CsvImageText(str(ann), img_key='image', caption_key='caption', sep=',',
                      data_root=str(csv_root), label_key='cls', classes=['cat', 'dog', 'hot'],
                      templates=['{}'])
    assert ds.labels == [2, 1] and ds.metainfo == dict(classes=('cat', 'dog', 'hot'),
                                                       templates=('{}',))
    with pytest.raises(ValueError, match=r"row 1 \(line 3\).*'bird'.*not one of the classes"):
        ann.write_text('image,caption,cls\nimgs/a.png,red,cat\nimgs/b.png,green,bird\n')
        CsvImageText(str(ann), img_key='image', caption_key='caption', sep=',',
                     data_root=str(csv_root), label_key='cls', classes=['cat', 'dog'])


def test_csv_errors(csv_root, tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.csv'):
        CsvImageText(str(tmp_path / 'nope.csv'))
    with pytest.raises(KeyError, match=r"column 'caption' not found.*\['filepath', 'title'\]"):
        CsvImageText(str(csv_root / 'train.csv'), caption_key='caption')
    with pytest.raises(KeyError, match="column 'label'"):
        CsvImageText(str(csv_root / 'train.csv'), label_key='label')
    with pytest.raises(KeyError, match='is the separator'):  # a TSV read with ','
        CsvImageText(str(csv_root / 'train.csv'), sep=',')
    with pytest.raises(ValueError, match='single character'):
        CsvImageText(str(csv_root / 'train.csv'), sep='::')
    bad = tmp_path / 'missing.csv'
    bad.write_text('filepath\ttitle\nimgs/a.png\tok\nimgs/gone.png\tmissing\n')
    with pytest.raises(FileNotFoundError, match=r"row 1 \(line 3\): '.*imgs/gone.png'"):
        CsvImageText(str(bad))
    (tmp_path / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n garbage')
    bad.write_text('filepath\ttitle\nimgs/a.png\tok\nbroken.png\tcorrupt\n')
    ds = CsvImageText(str(bad))
    assert ds[0]['inputs']['text'] == 'ok'
    with pytest.raises(ValueError, match=r"row 1 \(line 3\).*cannot read image '.*broken.png'"):
        ds[1]
    (tmp_path / 'empty.csv').write_text('')
    with pytest.raises(ValueError, match='empty'):
        CsvImageText(str(tmp_path / 'empty.csv'))


# ----------------------------------------------------------------------------- image folder
def test_folder_sidecar_captions(tmp_path):
    for name, color in (('b.png', (0, 255, 0)), ('a.jpg', (255, 0, 0))):
        write_png(tmp_path / name, (30, 20), color)
        (tmp_path / name).with_suffix('.txt').write_text(f'  caption of\n{name}\n')
    (tmp_path / 'notes.md').write_text('ignored')
    ds = ImageFolderCaptions(str(tmp_path), image_size=16)
    assert len(ds) == 2 and ds.caption_source == 'sidecar'
    assert ds.texts == ['caption of a.jpg', 'caption of b.png']
    assert ds.labels == [-1, -1] and ds.metainfo == {}
    batch = default_collate([ds[0], ds[1]])
    check_batch(batch, 16, 2)
    assert batch['inputs']['image'][1, 1].mean() > 0.98  # b.png is green
    os.remove(tmp_path / 'b.txt')
    with pytest.raises(FileNotFoundError, match=r'b\.txt'):
        ImageFolderCaptions(str(tmp_path))


def test_folder_json_mapping_and_classes(tmp_path):
    captions = {}
    for cls, color in (('dog', (200, 100, 0)), ('cat', (0, 0, 0))):
        for i in range(2):
            write_png(tmp_path / cls / f'{cls}{i}.png', (24, 24), color)
            captions[f'{cls}{i}.png' if i else f'{cls}/{cls}{i}.png'] = f'a {cls} number {i}'
    (tmp_path / 'captions.json').write_text(json.dumps(captions))
    (tmp_path / 'empty_dir').mkdir()
    ds = ImageFolderCaptions(str(tmp_path), image_size=12)
    assert ds.metainfo['classes'] == ('cat', 'dog') and ds.metainfo['templates']
    assert ds.labels == [0, 0, 1, 1]
    assert ds.texts == ['a cat number 0', 'a cat number 1', 'a dog number 0', 'a dog number 1']
    assert ds.caption_source.endswith('captions.json')
    batch = default_collate([ds[i] for i in range(4)])
    check_batch(batch, 12, 4)
    assert batch['data_samples']['labels'].tolist() == [0, 0, 1, 1]
    # a list of records works too; missing entries are named
    (tmp_path / 'captions.json').write_text(json.dumps(
        [dict(file_name='cat/cat0.png', caption='x')]))
    with pytest.raises(KeyError, match=r'3 images have no caption.*cat/cat1.png'):
        ImageFolderCaptions(str(tmp_path))
    # no classes when asked
    write_png(tmp_path / 'top.png')
    (tmp_path / 'top.txt').write_text('top')
    flat = ImageFolderCaptions(str(tmp_path), class_from_folder=False, captions='sidecar')
    assert flat.texts == ['top'] and flat.labels == [-1]


def test_folder_csv_mapping(tmp_path):
    write_png(tmp_path / 'x.png')
    write_png(tmp_path / 'y.png', color=(0, 0, 255))
    (tmp_path / 'captions.csv').write_text('file_name,caption\nx.png,"red, square"\n'
                                           'y.png,blue\n')
    ds = ImageFolderCaptions(str(tmp_path), image_size=None)
    assert ds.texts == ['red, square', 'blue']
    assert ds[0]['inputs']['image'].shape == (3, 30, 40)
    (tmp_path / 'captions.csv').write_text('path,words\nx.png,red\n')
    with pytest.raises(ValueError, match=r"captions.csv.*columns present: \['path', 'words'\]"):
        ImageFolderCaptions(str(tmp_path))
    with pytest.raises(FileNotFoundError, match='not a directory'):
        ImageFolderCaptions(str(tmp_path / 'nothing'))


# ----------------------------------------------------------------------------- caption-scarce
def test_caption_scarce_hides_all_but_a_stratified_fraction_of_the_captions():
    base = scenes()  # 48 scenes, 6 of each of 8 shapes
    data = CaptionScarce(base, captioned_fraction=0.2, seed=1)
    items = [data[i] for i in range(len(data))]
    kept = [i for i, item in enumerate(items) if item['data_samples']['captioned']]
    # 20 % of 6 rounds to one captioned scene per shape
    assert sorted(int(base.labels[i]) for i in kept) == list(range(8))
    for i, item in enumerate(items):
        caption = base[i]['inputs']['text']
        assert item['inputs']['text'] == (caption if i in kept else '')
        assert item['data_samples']['true_text'] == caption
        torch.testing.assert_close(item['inputs']['image'], base[i]['inputs']['image'])
    assert default_collate(items[:4])['data_samples']['captioned'].dtype == torch.bool
    assert CaptionScarce(base, 0.2, seed=1).captioned.tolist() == data.captioned.tolist()
    assert not CaptionScarce(base, 0.0).captioned.any()


def test_caption_scarce_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r'CaptionScarce.captioned_fraction: expected a share'):
        CaptionScarce(scenes(), captioned_fraction=1.5)
    with pytest.raises(ConfigError, match=r'CaptionScarce: the wrapped list has no `labels`'):
        CaptionScarce([], captioned_fraction=0.5)
