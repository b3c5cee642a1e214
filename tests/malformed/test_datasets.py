"""Malformed dataset inputs: a wrong root, list file, folder layout or argument ends in an mmkd
error that names the file, folder or argument."""
import numpy as np
import pytest

from mmkd.errors import MMKDError
from mmkd.classification import FashionMNIST
from mmkd.distill.cache import TeacherCacheDataset
from mmkd.pointcloud.datasets import ModelNetFolder, PointCloudFolder
from mmkd.vlm.datasets import CsvImageText, ImageFolderCaptions


def png(path):
    from PIL import Image
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(str(path))


def csv_without_caption_column(tmp_path):
    png(tmp_path / 'a.png')
    (tmp_path / 'list.tsv').write_text('filepath\tcolour\na.png\tred\n')
    return dict(ann_file=str(tmp_path / 'list.tsv')), 'title'


def csv_with_a_missing_image(tmp_path):
    (tmp_path / 'list.tsv').write_text('filepath\ttitle\nmissing.png\ta cat\n')
    return dict(ann_file=str(tmp_path / 'list.tsv')), 'missing.png'


def folder_without_captions(tmp_path):
    png(tmp_path / 'a.png')
    return dict(root=str(tmp_path)), 'a.txt'


def folder_without_images(tmp_path):
    return dict(root=str(tmp_path)), str(tmp_path)


def modelnet_without_class_folders(tmp_path):
    return dict(root=str(tmp_path)), str(tmp_path)


def pointcloud_folder_with_a_junk_file(tmp_path):
    (tmp_path / 'chair').mkdir()
    (tmp_path / 'chair' / 'a.xyz').write_text('0 0 0\n1 1 1\n2 2 2\n')
    (tmp_path / 'chair' / 'b.xyz').write_text('not a point\n')
    return dict(root=str(tmp_path), num_points=8, preload=True), 'b.xyz'


def fashion_mnist_from_a_missing_root(tmp_path):
    return dict(root=str(tmp_path / 'nowhere')), 'apt-get install dataset-fashion-mnist'


def fashion_mnist_bad_fraction(tmp_path):
    return dict(labelled_fraction=0.0), 'labelled_fraction'


def cache_dataset_without_a_cache(tmp_path):
    return dict(dataset=dict(type='DigitsDataset', split='train'), path=str(tmp_path / 'cache'),
                num_augs=2), str(tmp_path / 'cache')


CASES = [
    ('csv-without-caption-column', CsvImageText, csv_without_caption_column),
    ('csv-with-a-missing-image', CsvImageText, csv_with_a_missing_image),
    ('image-folder-without-captions', ImageFolderCaptions, folder_without_captions),
    ('image-folder-without-images', ImageFolderCaptions, folder_without_images),
    ('modelnet-without-class-folders', ModelNetFolder, modelnet_without_class_folders),
    ('pointcloud-folder-with-a-junk-file', PointCloudFolder, pointcloud_folder_with_a_junk_file),
    ('fashion-mnist-missing-root', FashionMNIST, fashion_mnist_from_a_missing_root),
    ('fashion-mnist-labelled-fraction-0', FashionMNIST, fashion_mnist_bad_fraction),
    ('teacher-cache-dataset-without-cache', TeacherCacheDataset, cache_dataset_without_a_cache),
]


@pytest.mark.parametrize('case,cls,make', CASES, ids=[c[0] for c in CASES])
def test_malformed_dataset_input_is_named(tmp_path, case, cls, make):
    kwargs, named = make(tmp_path)
    with pytest.raises(MMKDError) as info:
        dataset = cls(**kwargs)
        dataset[0]  # readers that load lazily meet the file here
    assert named in str(info.value), str(info.value)
