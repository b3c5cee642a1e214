"""Tests of mmkd.pointcloud.views: hand-checked pixels and intensities, z-buffering, ragged/dense
batches, point-pixel correspondences, the soft renderer's gradients and hard limit, open3d ray
casting against analytic silhouettes and against the point projection, the dataset wrapper."""
import math

import numpy as np
import pytest
import torch

from mmkd.pointcloud.views import (CUBE_VIEWS, PointCloudWithViews, _dilate, project_depth_views,
                                   render_mesh_depth, save_view_grid, view_names,
                                   view_rotations)

MIN_I = 0.2


def expected_intensity(zc):
    return 1 - (1 - MIN_I) * (1 - zc) / 2


def cube_camera(p):
    """Hand-written (u, w, z_c) of point p in each cube view (right, up, towards the camera)."""
    x, y, z = p
    return dict(front=(x, z, -y), right=(y, z, x), back=(-x, z, y), left=(-y, z, -x),
                top=(x, y, z), bottom=(x, -y, -z))


def pixel_of(u, w, size, extent=1.0):
    return int(math.floor((extent - w) / (2 * extent) * size)), \
        int(math.floor((u + extent) / (2 * extent) * size))


def test_view_rotations_are_right_handed_frames():
    for views in ('cube', 'ring'):
        rot = view_rotations(6 if views == 'cube' else 8, views)
        eye = torch.eye(3, dtype=torch.float64).expand_as(rot)
        assert torch.allclose(rot @ rot.transpose(1, 2), eye, atol=1e-12)
        assert torch.allclose(torch.linalg.det(rot), torch.ones(len(rot), dtype=torch.float64))
    # a 4-ring at elevation 0 is the cube's first four views
    assert torch.allclose(view_rotations(4, 'ring', elevation=0.0), view_rotations(4, 'cube'),
                          atol=1e-12)
    assert view_names(6) == ['front', 'right', 'back', 'left', 'top', 'bottom']
    with pytest.raises(ValueError, match='cube'):
        view_rotations(7, 'cube')
    with pytest.raises(ValueError, match='views'):
        view_rotations(6, 'sphere')


def test_single_point_lands_in_expected_pixel_of_every_view():
    p = (0.3, -0.55, 0.4)
    size = 16
    images = project_depth_views(torch.tensor([p]), image_size=size, radius=0)
    assert images.shape == (1, 6, 1, size, size)
    hand = cube_camera(p)
    for v, name in enumerate(CUBE_VIEWS):
        u, w, zc = hand[name]
        row, col = pixel_of(u, w, size)
        image = images[0, v, 0]
        assert image[row, col].item() == pytest.approx(expected_intensity(zc), abs=1e-6), name
        assert int((image > 0).sum()) == 1, name  # background is exactly 0 everywhere else
    # concrete values for the front view: u = 0.3 -> col floor(1.3 * 8) = 10; w = 0.4 -> row
    # floor(0.6 * 8) = 4; z_c = 0.55 -> depth 0.45 -> intensity 1 - 0.8 * 0.225 = 0.82
    assert images[0, 0, 0, 4, 10].item() == pytest.approx(0.82, abs=1e-6)
    # a point near the centre of a 64-pixel top view, splat radius 2: u = 0.01 -> col
    # floor(1.01 * 32) = 32, w = 0.01 -> row floor(0.99 * 32) = 31; the 5 x 5 square around it
    images = project_depth_views(torch.tensor([[0.01, 0.01, -0.5]]), image_size=64, radius=2)
    top = images[0, 4, 0]
    assert torch.allclose(top[29:34, 30:35], torch.full((5, 5), expected_intensity(-0.5)))
    assert int((top > 0).sum()) == 25


def test_nearer_point_on_the_same_ray_wins():
    near_front, near_back = (0.3, -0.5, 0.4), (0.3, 0.5, 0.4)  # same (x, z): same front pixel
    for order in ([near_front, near_back], [near_back, near_front]):
        images = project_depth_views(torch.tensor(order), image_size=16, radius=0)
        row, col = pixel_of(0.3, 0.4, 16)
        assert images[0, 0, 0, row, col].item() == pytest.approx(expected_intensity(0.5))  # front
        row, col = pixel_of(-0.3, 0.4, 16)
        assert images[0, 2, 0, row, col].item() == pytest.approx(expected_intensity(0.5))  # back
        assert int((images[0, 0] > 0).sum()) == 1 and int((images[0, 2] > 0).sum()) == 1


def test_ragged_batch_equals_per_cloud_and_dense_agrees():
    g = torch.Generator().manual_seed(0)
    sizes = [37, 100, 5]
    clouds = [torch.rand(n, 3, generator=g) * 1.6 - 0.8 for n in sizes]
    batch = torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])
    pos = torch.cat(clouds)
    perm = torch.randperm(len(pos), generator=g)  # batch need not be sorted
    ragged = project_depth_views(pos[perm], batch[perm], image_size=24, radius=1)
    assert ragged.shape == (3, 6, 1, 24, 24)
    for i, cloud in enumerate(clouds):
        assert torch.equal(ragged[i], project_depth_views(cloud, image_size=24, radius=1)[0])
    # trailing empty clouds with num_clouds
    padded = project_depth_views(pos, batch, image_size=24, radius=1, num_clouds=5)
    assert torch.equal(padded[:3], ragged) and padded[3:].eq(0).all()
    # dense [B, N, 3] equals ragged
    dense = torch.rand(4, 50, 3, generator=g) * 2 - 1
    flat_batch = torch.arange(4).repeat_interleave(50)
    a, pa, va = project_depth_views(dense, image_size=20, return_pixels=True)
    b, pb, vb = project_depth_views(dense.reshape(-1, 3), flat_batch, image_size=20,
                                    return_pixels=True)
    assert torch.equal(a, b) and torch.equal(pa, pb) and torch.equal(va, vb)
    assert pa.shape == (6, 200, 2) and pa.dtype == torch.long and va.shape == (6, 200)


def test_dilation_equals_max_pool():
    x = torch.rand(5, 13, 17) * (torch.rand(5, 13, 17) > 0.8)
    for r in (1, 2, 3):
        ref = torch.nn.functional.max_pool2d(x[:, None], 2 * r + 1, 1, r)[:, 0]
        assert torch.equal(_dilate(x, r), ref)


def test_ring_views_hand_checked():
    # camera k of an 8-ring at elevation 30: towards = (sin a cos e, -cos a cos e, sin e)
    p = torch.tensor([[0.2, -0.3, 0.5]], dtype=torch.float64)
    images = project_depth_views(p, num_views=8, views='ring', image_size=32, radius=0)
    e = math.radians(30)
    for k in range(8):
        a = 2 * math.pi * k / 8
        towards = np.array([math.sin(a) * math.cos(e), -math.cos(a) * math.cos(e), math.sin(e)])
        right = np.array([math.cos(a), math.sin(a), 0.0])
        up = np.cross(towards, right)
        q = p[0].numpy()
        row, col = pixel_of(q @ right, q @ up, 32)
        assert images[0, k, 0, row, col].item() == pytest.approx(
            expected_intensity(q @ towards), abs=1e-9)
        assert up[2] > 0  # image up points towards +z


def test_return_pixels_agree_with_the_depth_image():
    g = torch.Generator().manual_seed(1)
    pos = torch.randn(600, 3, generator=g)
    pos = pos / pos.norm(dim=1, keepdim=True) * torch.rand(600, 1, generator=g)
    batch = torch.arange(2).repeat_interleave(300)
    for radius in (0, 1):
        images, pixels, visible = project_depth_views(pos, batch, image_size=16, radius=radius,
                                                      return_pixels=True)
        rot = view_rotations(6).float()
        zc = torch.einsum('vij,nj->vni', rot, pos)[..., 2]
        point_int = expected_intensity(zc)
        values = images[batch.expand(6, -1), torch.arange(6)[:, None], 0, pixels[..., 0],
                        pixels[..., 1]]
        # a visible point's own intensity is its pixel's value; nothing in the image is dimmer
        assert visible.any()
        assert torch.allclose(values[visible], point_int[visible], atol=1e-6)
        assert (values >= point_int - 1e-6).all()
        # invisible (in-frame) points are behind something
        assert (values[~visible] > point_int[~visible]).all()
        if radius == 0:  # every lit pixel is some visible point's pixel
            lit = images[:, :, 0] > 0
            seen = torch.zeros_like(lit)
            seen[batch.expand(6, -1)[visible], torch.arange(6)[:, None].expand(-1, 600)[visible],
                 pixels[..., 0][visible], pixels[..., 1][visible]] = True
            assert torch.equal(lit, seen)
    # a point outside the image: clamped pixel, never visible, not drawn
    images, pixels, visible = project_depth_views(torch.tensor([[1.5, 0.0, 0.0]]),
                                                  image_size=8, radius=0, return_pixels=True)
    assert not visible[0, 0] and pixels[0, 0].tolist() == [4, 7] and images[0, 0].eq(0).all()


def test_differentiable_gradients_and_hard_limit():
    g = torch.Generator().manual_seed(2)
    pos = torch.randn(2, 200, 3, generator=g, dtype=torch.float64)
    pos = pos / pos.norm(dim=-1, keepdim=True) * 0.9
    leaf = pos.clone().requires_grad_(True)
    soft = project_depth_views(leaf, image_size=24, radius=1, differentiable=True)
    assert soft.shape == (2, 6, 1, 24, 24)
    target = torch.rand(soft.shape, generator=g, dtype=torch.float64)
    ((soft - target) ** 2).sum().backward()
    grad = leaf.grad
    assert torch.isfinite(grad).all()
    assert (grad.norm(dim=-1) > 0).float().mean() > 0.9  # nearly every point gets a gradient
    for axis in range(3):  # gradient flows through image position and depth of every axis
        assert grad[..., axis].abs().sum() > 0
    # the gradient is the true one (finite differences, full Jacobian of a small case)
    small = pos[:1, :10].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda p: project_depth_views(p, image_size=8, radius=0, differentiable=True, sigma=0.7),
        (small,), eps=1e-6, atol=1e-5)
    # hard limit: small sigma reproduces the hard image (only pixels within ~sigma of a point's
    # splat edge differ, so the error shrinks linearly)
    hard = project_depth_views(pos, image_size=24, radius=1)
    diffs = []
    for sigma in (0.3, 0.03, 0.001):
        near = project_depth_views(pos, image_size=24, radius=1, differentiable=True,
                                   sigma=sigma)
        diffs.append((near - hard).abs().mean().item())
    assert diffs[0] > diffs[1] > diffs[2]
    assert diffs[2] < 1e-3
    assert ((near - hard).abs() > 0.05).double().mean() < 0.005


def box_mesh(size, centre=(0.0, 0.0, 0.0)):
    import open3d as o3d
    mesh = o3d.geometry.TriangleMesh.create_box(*size)
    mesh.translate(np.asarray(centre) - np.asarray(size) / 2)
    return o3d.t.geometry.TriangleMesh.from_legacy(mesh)


def test_mesh_raycasting_analytic_silhouettes_and_depths():
    import open3d as o3d
    # unit cube (side 1): a quarter of the [-1, 1]^2 square in every cube view, face at z_c 0.5
    images = render_mesh_depth(box_mesh((1, 1, 1)), image_size=64)
    assert images.shape == (6, 64, 64) and images.dtype == np.float32
    for v in range(6):
        assert (images[v] > 0).mean() == pytest.approx(0.25, abs=1e-9)
        assert images[v, 32, 32] == pytest.approx(expected_intensity(0.5), abs=1e-5)
        assert images[v, 0, 0] == 0
    # 8-ring at elevation 0: at azimuth 45 the cube is sqrt(2) wide, 1 high
    ring = render_mesh_depth(box_mesh((1, 1, 1)), num_views=8, views='ring', elevation=0,
                             image_size=64)
    assert (ring[1] > 0).mean() == pytest.approx(math.sqrt(2) / 4, abs=0.01)
    assert ring[1, 32, 32] == pytest.approx(expected_intensity(math.sqrt(2) / 2), abs=0.01)
    # sphere of radius 0.8 (legacy mesh accepted): disc area pi 0.64 / 4, front at z_c = 0.8
    sphere = o3d.geometry.TriangleMesh.create_sphere(0.8, resolution=60)
    images = render_mesh_depth(sphere, image_size=64)
    for v in range(6):
        assert (images[v] > 0).mean() == pytest.approx(math.pi * 0.64 / 4, abs=0.01)
        assert images[v, 32, 32] == pytest.approx(expected_intensity(0.8), abs=0.005)
    depth = render_mesh_depth(sphere, image_size=64, return_depth=True)
    assert depth[0, 32, 32] == pytest.approx(0.2, abs=0.005) and np.isinf(depth[0, 0, 0])


def test_mesh_and_point_projection_share_conventions():
    """An asymmetric mesh: the point projection of its dense surface samples must match the
    ray-cast images in silhouette (IoU) and depth, in every view (mirrors would fail)."""
    import open3d as o3d
    from mmkd.pointcloud.datasets import sample_surface
    box = o3d.geometry.TriangleMesh.create_box(0.9, 0.4, 0.3).translate((-0.1, -0.5, -0.4))
    cone = o3d.geometry.TriangleMesh.create_cone(0.3, 0.7).translate((0.3, 0.2, 0.0))
    legacy = box + cone
    vertices = np.asarray(legacy.vertices)
    triangles = np.asarray(legacy.triangles)
    points = torch.from_numpy(sample_surface(vertices, triangles, 30000,
                                             np.random.default_rng(0))).float()
    for kwargs in (dict(num_views=6), dict(num_views=5, views='ring', elevation=20.0)):
        meshes = render_mesh_depth((vertices, triangles), image_size=64, **kwargs)
        clouds = project_depth_views(points, image_size=64, radius=0, **kwargs)[0, :, 0].numpy()
        for v in range(len(meshes)):
            a, b = meshes[v] > 0, clouds[v] > 0
            iou = (a & b).sum() / (a | b).sum()
            assert iou > 0.8, (kwargs, v, iou)
            # rays sample pixel centres, points light any pixel they fall in: the point
            # silhouette holds the mesh's and lies within one pixel of it
            assert (a & b).sum() / a.sum() > 0.99, (kwargs, v)
            grown = _dilate(torch.from_numpy(a[None].astype(np.float32)), 1)[0].numpy() > 0
            assert (b & grown).sum() / b.sum() > 0.99, (kwargs, v)
            both = a & b
            assert np.abs(meshes[v][both] - clouds[v][both]).mean() < 0.03, (kwargs, v)
        # and a mirrored point cloud does not match (the check has teeth)
        mirrored = project_depth_views(points * torch.tensor([-1.0, 1.0, 1.0]), image_size=64,
                                       radius=0, **kwargs)[0, 0, 0].numpy() > 0
        a = meshes[0] > 0
        assert (a & mirrored).sum() / (a | mirrored).sum() < 0.8


def test_point_cloud_with_views_over_synthetic_shapes(tmp_path):
    from mmengine.dataset import default_collate
    dataset = PointCloudWithViews(
        dataset=dict(type='SyntheticShapes', num_train_per_class=2, num_points=256,
                     cache_dir=str(tmp_path), progress=False,
                     classes=['box', 'sphere', 'table'],
                     transforms=[dict(type='RandomRotation', axis='z')]),
        num_views=6, image_size=32)
    assert len(dataset) == 6
    assert dataset.metainfo['classes'] == ('box', 'sphere', 'table')
    assert dataset.metainfo['view_names'] == tuple(CUBE_VIEWS)
    items = [dataset[i] for i in range(4)]
    for i, item in enumerate(items):
        views = item['data_samples']['views']
        assert views.shape == (6, 1, 32, 32) and views.dtype == torch.float32
        assert item['data_samples']['labels'] == i % 3 and item['data_samples']['sample_idx'] == i
        # views are those of the (randomly rotated) points the student receives
        assert torch.equal(views, project_depth_views(item['inputs'], image_size=32)[0])
        assert (views > 0).float().mean() > 0.05
    batch = default_collate(items)
    assert batch['inputs'].shape == (4, 256, 3)
    assert batch['data_samples']['views'].shape == (4, 6, 1, 32, 32)
    assert batch['data_samples']['labels'].tolist() == [0, 1, 2, 0]


def test_save_view_grid(tmp_path):
    from PIL import Image
    views = project_depth_views(torch.rand(2, 100, 3) - 0.5, image_size=16)
    path = save_view_grid(views, ['a', 'b'], str(tmp_path / 'grid.png'), dpi=50)
    with Image.open(path) as im:
        assert im.format == 'PNG' and im.size[0] > im.size[1] > 0
    with pytest.raises(ValueError, match='titles'):
        save_view_grid(views, ['a'], str(tmp_path / 'bad.png'))


def test_input_errors():
    with pytest.raises(ValueError, match='points'):
        project_depth_views(torch.zeros(5, 2))
    with pytest.raises(ValueError, match='batch'):
        project_depth_views(torch.zeros(5, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match='radius'):
        project_depth_views(torch.zeros(5, 3), radius=-1)
    with pytest.raises(TypeError, match='mesh'):
        render_mesh_depth('not a mesh')
