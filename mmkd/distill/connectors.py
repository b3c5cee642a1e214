"""Connectors: small trainable maps from a student feature into the teacher's feature space.

They belong to the student side of training and are dropped when the student is exported.
"""
from typing import Optional

from torch import Tensor, nn

from mmkd.registry import MODELS


@MODELS.register_module()
class LinearConnector(nn.Module):
    """``Linear(in_channels, out_channels)`` on the last dim (``[N, C]`` or ``[N_points, C]``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)


@MODELS.register_module()
class ConvConnector(nn.Module):
    """``kxk Conv2d + BatchNorm`` on ``[N, C, H, W]`` maps (FitNets' regressor, 1x1 default)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 norm: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size,
                              padding=kernel_size // 2, bias=not norm)
        self.norm = nn.BatchNorm2d(out_channels) if norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x))


@MODELS.register_module()
class MLPConnector(nn.Module):
    """``Linear -> ReLU -> Linear`` on the last dim."""

    def __init__(self, in_channels: int, out_channels: int,
                 hidden_channels: Optional[int] = None) -> None:
        super().__init__()
        hidden_channels = hidden_channels or out_channels
        self.mlp = nn.Sequential(nn.Linear(in_channels, hidden_channels), nn.ReLU(inplace=True),
                                 nn.Linear(hidden_channels, out_channels))

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x)
