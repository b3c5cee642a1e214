"""The installed stack that the modality packages build on works offline on this machine."""
import numpy as np
import torch


def test_open3d_samples_points_on_a_box_surface():
    import open3d as o3d  # needs libusb-1.0 (installed by the Makefile)
    mesh = o3d.geometry.TriangleMesh.create_box(width=2.0, height=1.0, depth=1.0)
    points = np.asarray(mesh.sample_points_uniformly(number_of_points=500).points)
    assert points.shape == (500, 3)
    on_face = np.isclose(points, 0).any(1) | np.isclose(points, [2.0, 1.0, 1.0]).any(1)
    assert on_face.all()
    assert np.all(points >= -1e-9) and np.all(points <= np.array([2.0, 1.0, 1.0]) + 1e-9)


def test_open_clip_builds_a_tiny_custom_model_offline():
    import open_clip
    cfg = dict(embed_dim=32, vision_cfg=dict(image_size=32, layers=1, width=64, patch_size=8),
               text_cfg=dict(context_length=16, vocab_size=49408, width=32, heads=2, layers=1))
    model = open_clip.CLIP(**cfg).eval()
    tokens = open_clip.get_tokenizer('ViT-B-32')(['a photo of a digit'], context_length=16)
    with torch.no_grad():
        image, text = model.encode_image(torch.rand(2, 3, 32, 32)), model.encode_text(tokens)
    assert image.shape == (2, 32) and text.shape == (1, 32)


def test_diffusers_unet_and_pyg_layer_run_on_cpu():
    from diffusers import UNet2DModel
    from torch_geometric.nn import PointNetConv
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                       down_block_types=('DownBlock2D', 'DownBlock2D'),
                       up_block_types=('UpBlock2D', 'UpBlock2D'), norm_num_groups=4,
                       layers_per_block=1)
    assert unet(torch.randn(2, 1, 8, 8), timestep=10).sample.shape == (2, 1, 8, 8)
    conv = PointNetConv(local_nn=torch.nn.Linear(3 + 3, 8))
    pos = torch.randn(4, 3)
    edge_index = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    assert conv(pos, pos, edge_index).shape == (4, 8)
