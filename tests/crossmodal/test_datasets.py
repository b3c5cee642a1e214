"""Cross-modal data: ShapeViewCaptions (captioned depth views of point clouds) and the options of
PointCloudWithViews that feed PPKT (pixels / visibility, denser views than points, views as the
inputs), collated and read by PointPixelContrastiveLoss."""
import pytest
import torch
from mmengine.dataset import default_collate

from mmkd.crossmodal.datasets import DEPTH_TEMPLATES, ShapeViewCaptions
from mmkd.crossmodal.losses import PointPixelContrastiveLoss, flatten_dense_pairs
from mmkd.pointcloud.datasets import SyntheticShapes
from mmkd.pointcloud.views import PointCloudWithViews, project_depth_views, view_rotations
from mmkd.registry import DATASETS

CLASSES = ['box', 'sphere', 'table']


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    return dict(type='SyntheticShapes', num_train_per_class=2, num_points=128,
                cache_dir=str(tmp_path_factory.mktemp('shapes')), progress=False,
                classes=CLASSES)


# ----------------------------------------------------------------------------- ShapeViewCaptions
def test_shape_view_captions_image_items_cycle_views_and_templates(shapes):
    dataset = DATASETS.build(dict(type='ShapeViewCaptions', dataset=shapes, inputs='image',
                                  num_views=4, image_size=16, choice='cycle'))
    points = SyntheticShapes(**{k: v for k, v in shapes.items() if k != 'type'})
    rotations = view_rotations(4, 'ring', 30.0).float()
    assert len(dataset) == 6
    assert dataset.metainfo['classes'] == tuple(CLASSES)
    assert dataset.metainfo['templates'] == DEPTH_TEMPLATES
    assert dataset.metainfo['view_names'] == ('az0 el30', 'az90 el30', 'az180 el30',
                                              'az270 el30')
    for i in range(6):
        item = dataset[i]
        image, text = item['inputs']['image'], item['inputs']['text']
        assert image.shape == (3, 16, 16) and image.dtype == torch.float32
        assert torch.equal(image[0], image[1]) and torch.equal(image[0], image[2])
        view = i % 4
        assert item['data_samples'] == dict(labels=i % 3, sample_idx=i, view=view)
        assert text == DEPTH_TEMPLATES[(i // 4) % 4].format(CLASSES[i % 3])
        # the view is the depth projection of the item's points through camera i % 4
        expected = project_depth_views(points[i]['inputs'], views=rotations[view:view + 1],
                                       image_size=16)[0, 0]
        assert torch.equal(image[:1], expected)
        assert 0.5 < float(image.max()) <= 1.0 and float(image.min()) == 0.0
    assert dataset[4]['inputs']['text'] == 'a depth map of a sphere.'
    batch = default_collate([dataset[i] for i in range(4)])
    assert batch['inputs']['image'].shape == (4, 3, 16, 16)
    assert batch['inputs']['text'] == ['a depth image of a box.', 'a depth image of a sphere.',
                                       'a depth image of a table.', 'a depth image of a box.']
    assert batch['data_samples']['labels'].tolist() == [0, 1, 2, 0]


def test_shape_view_captions_point_items_carry_the_clip_inputs(shapes):
    dataset = ShapeViewCaptions(shapes, inputs='points', num_views=6, views='cube',
                                image_size=16, choice=2, templates=['{} in depth'])
    item = dataset[1]
    assert item['inputs'].shape == (128, 3)
    clip = item['data_samples']['clip_inputs']
    assert clip['text'] == 'sphere in depth' and item['data_samples']['view'] == 2
    # view 2 of the cube is 'back'
    assert torch.equal(clip['image'][0], project_depth_views(item['inputs'], num_views=6,
                                                             image_size=16)[0, 2, 0])
    batch = default_collate([dataset[i] for i in range(3)])
    assert batch['inputs'].shape == (3, 128, 3)
    assert batch['data_samples']['clip_inputs']['image'].shape == (3, 3, 16, 16)
    assert batch['data_samples']['clip_inputs']['text'] == [
        'box in depth', 'sphere in depth', 'table in depth']


def test_shape_view_captions_random_choice_follows_the_global_rng(shapes):
    dataset = ShapeViewCaptions(shapes, inputs='image', image_size=8, choice='random')

    def draw():
        return [(dataset[i]['data_samples']['view'], dataset[i]['inputs']['text'])
                for i in range(6)]

    torch.manual_seed(3)
    first = draw()
    torch.manual_seed(3)
    assert draw() == first
    torch.manual_seed(0)
    many = [dataset[0]['data_samples']['view'] for _ in range(60)]
    assert set(many) == set(range(6))  # every view drawn
    texts = {dataset[0]['inputs']['text'] for _ in range(40)}
    assert texts == {t.format('box') for t in DEPTH_TEMPLATES}


def test_shape_view_captions_errors(shapes):
    with pytest.raises(ValueError, match=r"inputs: expected 'image' or 'points', got 'views'"):
        ShapeViewCaptions(shapes, inputs='views')
    with pytest.raises(ValueError, match=r"choice: expected 'random', 'cycle' or a view index "
                                         r"in \[0, 6\), got 6"):
        ShapeViewCaptions(shapes, choice=6)
    with pytest.raises(ValueError, match=r"templates: expected strings with '\{\}'"):
        ShapeViewCaptions(shapes, templates=['a shape'])

    class NoClasses(torch.utils.data.Dataset):
        metainfo = {}

    with pytest.raises(ValueError, match=r'NoClasses has no metainfo\["classes"\]'):
        ShapeViewCaptions(NoClasses())


# ----------------------------------------------------------------------------- PointCloudWithViews
def test_point_cloud_with_views_pixels_and_visibility(shapes):
    dataset = PointCloudWithViews(dataset=shapes, num_views=3, image_size=16,
                                  return_pixels=True)
    item = dataset[0]
    points, samples = item['inputs'], item['data_samples']
    views, pixels, visible = project_depth_views(points, num_views=3, image_size=16,
                                                 return_pixels=True)
    assert samples['pixels'].shape == (3, 128, 2) and samples['pixels'].dtype == torch.long
    assert samples['visible'].shape == (3, 128) and samples['visible'].dtype == torch.bool
    assert torch.equal(samples['pixels'], pixels) and torch.equal(samples['visible'], visible)
    assert torch.equal(samples['views'], views[0])
    assert 0 < samples['visible'].sum() < samples['visible'].numel()  # some points are hidden
    batch = default_collate([dataset[i] for i in range(4)])
    assert batch['data_samples']['pixels'].shape == (4, 3, 128, 2)
    assert batch['data_samples']['visible'].shape == (4, 3, 128)
    assert 'return_pixels=True' in repr(dataset)


def test_point_cloud_with_views_denser_views_than_points(shapes):
    dense = PointCloudWithViews(dataset=shapes, num_views=2, image_size=16, return_pixels=True)
    sparse = PointCloudWithViews(dataset=shapes, num_views=2, image_size=16, return_pixels=True,
                                 num_points=32)
    full, item = dense[1], sparse[1]
    # views from all 128 points, the student keeps the first 32 with their own pixels
    assert item['inputs'].shape == (32, 3)
    assert torch.equal(item['inputs'], full['inputs'][:32])
    assert torch.equal(item['data_samples']['views'], full['data_samples']['views'])
    assert torch.equal(item['data_samples']['pixels'], full['data_samples']['pixels'][:, :32])
    assert torch.equal(item['data_samples']['visible'], full['data_samples']['visible'][:, :32])
    too_many = PointCloudWithViews(dataset=shapes, num_points=129)
    with pytest.raises(ValueError, match='item 0 has 128 points, fewer than num_points=129'):
        too_many[0]
    with pytest.raises(ValueError, match='num_points: expected None or a positive int'):
        PointCloudWithViews(dataset=shapes, num_points=0)


def test_point_cloud_with_views_views_as_inputs(shapes):
    dataset = PointCloudWithViews(dataset=shapes, num_views=2, image_size=8, inputs='views')
    item = dataset[2]
    with_points = PointCloudWithViews(dataset=shapes, num_views=2, image_size=8)[2]
    assert torch.equal(item['inputs'], with_points['data_samples']['views'])
    assert item['inputs'].shape == (2, 1, 8, 8)
    assert item['data_samples'] == dict(labels=2, sample_idx=2)
    with pytest.raises(ValueError, match=r"inputs: expected 'points' or 'views', got 'image'"):
        PointCloudWithViews(dataset=shapes, inputs='image')


# ----------------------------------------------------------------------------- PPKT on batches
def test_ppkt_takes_the_collated_layout(shapes):
    dataset = PointCloudWithViews(dataset=shapes, num_views=2, image_size=16,
                                  return_pixels=True, num_points=64)
    batch = default_collate([dataset[i] for i in range(3)])
    pixels, visible = batch['data_samples']['pixels'], batch['data_samples']['visible']
    flat_pixels, flat_visible, point_batch = flatten_dense_pairs(pixels, visible, None)
    assert flat_pixels.shape == (2, 192, 2) and flat_visible.shape == (2, 192)
    # point n of cloud b is row b * 64 + n
    assert torch.equal(flat_pixels[1, 64 + 5], pixels[1, 1, 5])
    assert torch.equal(flat_visible[0, 128:], visible[2, 0])
    assert point_batch.tolist() == [0] * 64 + [1] * 64 + [2] * 64
    # the same loss as the flat layout of project_depth_views over the dense [B, N, 3] batch
    _, ref_pixels, ref_visible = project_depth_views(batch['inputs'], num_views=2,
                                                     image_size=16, return_pixels=True)
    torch.manual_seed(0)
    feats = torch.randn(192, 4)
    maps = torch.randn(3, 2, 4, 8, 8)
    loss = PointPixelContrastiveLoss(num_pairs=10000, image_size=16)
    dense = loss(feats, maps, pixels, visible)
    flat = loss(feats, maps, flat_pixels, flat_visible, point_batch)
    torch.testing.assert_close(dense, flat)
    # dense points render the views, so visibility differs from rendering the 64 points alone
    assert torch.equal(flat_pixels, ref_pixels)
    assert not torch.equal(flat_visible, ref_visible)
    with pytest.raises(ValueError, match=r'visible must be a bool mask \[B, V, N\] = '
                                         r'\[3, 2, 64\]'):
        loss(feats, maps, pixels, visible[:, :1])
