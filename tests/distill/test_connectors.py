"""Connectors: small trainable maps from student features to the teacher's shape."""
import torch
import torch.nn.functional as F
from torch import nn

from mmkd.registry import MODELS


def test_linear_connector():
    torch.manual_seed(0)
    c = MODELS.build(dict(type='LinearConnector', in_channels=3, out_channels=5))
    x = torch.randn(4, 3)
    torch.testing.assert_close(c(x), x @ c.proj.weight.T + c.proj.bias)
    assert c(torch.randn(2, 7, 3)).shape == (2, 7, 5)       # acts on the last dim


def test_conv_connector_default_is_1x1_conv_bn():
    torch.manual_seed(0)
    c = MODELS.build(dict(type='ConvConnector', in_channels=2, out_channels=6))
    assert c.conv.kernel_size == (1, 1) and c.conv.bias is None
    assert isinstance(c.norm, nn.BatchNorm2d)
    x = torch.randn(3, 2, 4, 5)
    c.eval()
    expected = F.batch_norm(F.conv2d(x, c.conv.weight), c.norm.running_mean,
                            c.norm.running_var, c.norm.weight, c.norm.bias, False, 0.0,
                            c.norm.eps)
    torch.testing.assert_close(c(x), expected)
    assert c(x).shape == (3, 6, 4, 5)


def test_conv_connector_kernel_3_without_norm_keeps_size():
    torch.manual_seed(0)
    c = MODELS.build(dict(type='ConvConnector', in_channels=2, out_channels=3, kernel_size=3,
                          norm=False))
    assert isinstance(c.norm, nn.Identity) and c.conv.bias is not None
    x = torch.randn(1, 2, 5, 5)
    torch.testing.assert_close(c(x), F.conv2d(x, c.conv.weight, c.conv.bias, padding=1))


def test_mlp_connector():
    torch.manual_seed(0)
    c = MODELS.build(dict(type='MLPConnector', in_channels=3, out_channels=4,
                          hidden_channels=7))
    first, last = c.mlp[0], c.mlp[2]
    assert (first.in_features, first.out_features, last.out_features) == (3, 7, 4)
    x = torch.randn(5, 3)
    torch.testing.assert_close(c(x), last(F.relu(first(x))))
    default = MODELS.build(dict(type='MLPConnector', in_channels=3, out_channels=4))
    assert default.mlp[0].out_features == 4
