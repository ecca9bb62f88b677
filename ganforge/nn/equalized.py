"""Equalized learning-rate layers (Karras et al. 2018, "Progressive Growing of GANs", sec. 4.1).

Weights are stored as N(0, 1) and multiplied at run time by He's constant gain / sqrt(fan_in).
Adam's update is then the same size for every layer whatever its fan-in, so all layers learn at
the same speed; the scaling is redone on every call rather than folded into the initial weights.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class EqualizedLinear(nn.Module):
    """Linear layer with weights N(0, 1) scaled at run time by gain / sqrt(in_features)."""

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2), bias: bool = True):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.scale = gain / math.sqrt(in_features)

    @property
    def effective_weight(self) -> torch.Tensor:
        """The weight actually applied: stored weight times gain / sqrt(fan_in)."""
        return self.weight * self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective_weight, self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, scale={self.scale:.4g}, bias={self.bias is not None}"


class EqualizedConv2d(nn.Module):
    """2-D convolution with weights N(0, 1) scaled at run time by gain / sqrt(in_ch * k * k).

    ``padding`` defaults to ``kernel_size // 2``: "same" output size for the odd kernels PGGAN
    uses everywhere except the discriminator's last 4x4 conv, which passes ``padding=0``.
    The paper uses gain sqrt(2) (ReLU / leaky ReLU) and 1 for the toRGB layers.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        padding: int | None = None,
        gain: float = math.sqrt(2),
        bias: bool = True,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.padding = kernel_size // 2 if padding is None else padding
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)

    @property
    def effective_weight(self) -> torch.Tensor:
        """The weight actually applied: stored weight times gain / sqrt(fan_in)."""
        return self.weight * self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.effective_weight, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"padding={self.padding}, scale={self.scale:.4g}, bias={self.bias is not None}"
        )
