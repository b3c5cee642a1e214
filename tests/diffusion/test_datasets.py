"""Diffusion image datasets: digits at 16x16, generated shapes, a folder of your own images."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mmkd.classification.datasets import digits_split
from mmkd.diffusion.datasets import DigitsImages, ImageFolderDataset, SyntheticShapesImages
from mmkd.registry import DATASETS


def test_digits_images_are_upsampled_digits_in_minus_one_one():
    train, test = DigitsImages('train'), DigitsImages('test')
    assert (len(train), len(test)) == (1257, 540)
    item = train[7]
    assert item['inputs'].shape == (1, 16, 16) and item['inputs'].dtype == torch.float32
    images, labels = digits_split('train')
    expected = F.interpolate(torch.from_numpy(images[7])[None, None], size=(16, 16),
                             mode='bilinear', align_corners=False)[0] * 2 - 1
    torch.testing.assert_close(item['inputs'], expected)
    assert item['data_samples'] == dict(labels=int(labels[7]), sample_idx=7)
    assert float(train.images.min()) >= -1 and float(train.images.max()) <= 1
    assert float(train.images.min()) == -1          # background is black
    native = DigitsImages('test', image_size=8, num_samples=5)
    torch.testing.assert_close(native[4]['inputs'][0],
                               torch.from_numpy(digits_split('test')[0][4]) * 2 - 1)
    with pytest.raises(ValueError, match='num_samples'):
        DigitsImages('test', num_samples=541)


def test_registered_and_collated():
    from torch.utils.data import default_collate
    dataset = DATASETS.build(dict(type='DigitsImages', split='test', num_samples=4))
    batch = default_collate([dataset[i] for i in range(4)])
    assert batch['inputs'].shape == (4, 1, 16, 16)
    assert batch['data_samples']['sample_idx'].tolist() == [0, 1, 2, 3]


def test_synthetic_shapes_are_deterministic_per_index():
    a = SyntheticShapesImages(num_samples=30, seed=3)
    b = SyntheticShapesImages(num_samples=300, seed=3)
    for i in (0, 1, 2, 29):
        torch.testing.assert_close(a[i]['inputs'], b[i]['inputs'])
        assert a[i]['data_samples']['labels'] == i % 3
    assert not torch.equal(a[0]['inputs'], SyntheticShapesImages(30, seed=4)[0]['inputs'])
    images = torch.stack([a[i]['inputs'] for i in range(30)])
    assert images.shape == (30, 1, 16, 16)
    assert float(images.min()) == -1 and float(images.max()) <= 1
    area = (images > 0).float().mean(dim=(1, 2, 3))       # every image shows a shape
    assert float(area.min()) > 0.03 and float(area.max()) < 0.6
    with pytest.raises(IndexError):
        a[30]
    with pytest.raises(ValueError, match='shapes: expected names'):
        SyntheticShapesImages(shapes=('hexagon',))


def test_synthetic_circle_fills_about_pi_r_squared():
    from mmkd.diffusion.datasets import draw_shape
    rng = np.random.default_rng(0)
    image = draw_shape('circle', 64, rng)
    rng = np.random.default_rng(0)
    radius = rng.uniform(0.2, 0.35)
    brightness = image.max()
    assert image.sum() / brightness / 64 ** 2 == pytest.approx(np.pi * radius ** 2, rel=0.02)


def save(path, array, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


def test_image_folder_resizes_crops_and_labels_by_subfolder(tmp_path):
    wide = np.zeros((16, 32), np.uint8)     # h=16, w=32: the centre 16 columns are white
    wide[:, 8:24] = 255
    save(tmp_path / 'cats' / 'wide.png', wide, 'L')
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 0] = 255                        # pure red, downscaled 2x
    save(tmp_path / 'dogs' / 'deep' / 'red.jpg', rgb, 'RGB')
    save(tmp_path / 'top.bmp', np.full((16, 16), 128, np.uint8), 'L')
    (tmp_path / 'notes.txt').write_text('not an image')

    gray = ImageFolderDataset(str(tmp_path), image_size=16, channels=1)
    assert len(gray) == 3 and gray.metainfo['classes'] == ('cats', 'dogs')
    names = [p.split('/')[-1] for p in gray.files]
    assert names == ['wide.png', 'red.jpg', 'top.bmp']
    assert gray.labels == [0, 1, 0]
    torch.testing.assert_close(gray[0]['inputs'], torch.ones(1, 16, 16))   # centre crop
    assert gray[2]['inputs'].unique().tolist() == pytest.approx([128 / 255 * 2 - 1], abs=1e-6)
    color = ImageFolderDataset(str(tmp_path), image_size=8, channels=3)
    red = color[1]['inputs']
    assert red.shape == (3, 8, 8)
    assert float(red[0].min()) > 0.95
    assert float(red[1:].max()) < -0.95


def test_image_folder_errors_name_the_bad_files(tmp_path):
    save(tmp_path / 'good.png', np.zeros((8, 8), np.uint8), 'L')
    (tmp_path / 'broken.png').write_bytes(b'\x89PNG not really')
    with pytest.raises(ValueError, match=r"(?s)1 of 2 files .*broken\.png"):
        ImageFolderDataset(str(tmp_path))
    lazy = ImageFolderDataset(str(tmp_path), check_files=False)
    with pytest.raises(ValueError, match=r"cannot read image .*broken\.png"):
        lazy[0]
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='no image files under'):
        ImageFolderDataset(str(empty))
    with pytest.raises(FileNotFoundError, match='is not a directory'):
        ImageFolderDataset(str(tmp_path / 'missing'))
    with pytest.raises(ValueError, match='channels: expected 1 or 3'):
        ImageFolderDataset(str(tmp_path), channels=2)
