"""DCGAN (Radford et al. 2015): all-convolutional, strided (transposed) convolutions, no pooling,
BatchNorm everywhere except G's output and D's input, ReLU in G, LeakyReLU 0.2 in D, tanh output.

The layer table is parametrised by resolution: each doubling adds one block and halves the width,
so 64x64 with width 64 is exactly the paper's table (1024-512-256-128 at ngf = 128 there).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ConfigError
from ..nn import spectral_norm_all
from ..nn.norms import MinibatchStddev
from .base import Discriminator, Generator, check_mbstd_group


def _doublings(image_size: int) -> int:
    n = math.log2(image_size) if image_size > 0 else 0
    if not n.is_integer() or image_size < 8:
        raise ConfigError(f"DCGAN needs a power-of-two image size >= 8, got {image_size}")
    return int(n) - 2  # from 4x4 up to image_size


def _channels(data_shape: tuple[int, ...]) -> tuple[int, int]:
    if len(data_shape) != 3:
        raise ConfigError("DCGAN models need image data; use the 'mlp' models for points")
    return data_shape[0], data_shape[-1]


class DCGANGenerator(Generator):
    def __init__(self, data_shape: tuple[int, ...], num_classes: int = 0, z_dim: int = 100,
                 width: int = 64, conditioning: str = "none", dense: int = 0):
        super().__init__(z_dim, num_classes, conditioning)
        channels, size = _channels(data_shape)
        n = _doublings(size)
        ch = width * 2 ** (n - 1)
        self.dense = dense
        layers: list[nn.Module]
        if dense:
            # The InfoGAN authors' MNIST generator: two fully connected layers (1024, then the
            # first map's size) before the convolutions. A linear layer, not a transposed
            # convolution from 1x1 (the same map), because it is ~4x faster on a CPU.
            layers = [nn.Linear(self.input_dim, dense, bias=False), nn.BatchNorm1d(dense), nn.ReLU(True),
                      nn.Linear(dense, ch * 16, bias=False), nn.Unflatten(1, (ch, 4, 4))]
        else:
            layers = [nn.ConvTranspose2d(self.input_dim, ch, 4, 1, 0, bias=False)]
        layers += [nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        init_dcgan_(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        z = self.condition(z, labels)
        return self.net(z if self.dense else z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(Discriminator):
    def __init__(self, data_shape: tuple[int, ...], num_classes: int = 0, width: int = 64,
                 slope: float = 0.2, batchnorm: bool = True, spectral_norm: bool = False,
                 conditioning: str = "none", mbstd_group: int = 0, dense: int = 0):
        super().__init__(data_shape, num_classes, conditioning)
        channels, size = _channels(data_shape)
        n = _doublings(size)
        ch = width
        # No BatchNorm on the input layer (paper); `batchnorm=False` drops it everywhere, which
        # WGAN-GP needs because its penalty is per-sample.
        layers: list[nn.Module] = [nn.Conv2d(self.input_channels(channels), ch, 4, 2, 1, bias=False),
                                   nn.LeakyReLU(slope, True)]
        for _ in range(n - 1):
            norm = nn.BatchNorm2d(ch * 2) if batchnorm else nn.Identity()
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), norm, nn.LeakyReLU(slope, True)]
            ch *= 2
        check_mbstd_group(mbstd_group)
        if mbstd_group > 0:  # PGGAN's minibatch stddev as one more 4x4 map before the output
            layers.append(MinibatchStddev(mbstd_group))
        layers.append(nn.Flatten())
        self.net = nn.Sequential(*layers)
        flat = (ch + (1 if mbstd_group > 0 else 0)) * 16
        # `dense` > 0: a fully connected layer of that width (batch norm unless off, leaky ReLU)
        # after the convolutions, shared by the output and any head, as in the InfoGAN authors'
        # MNIST discriminator (1024).
        self.dense = None
        if dense:
            self.dense = nn.Sequential(nn.Linear(flat, dense, bias=not batchnorm),
                                       nn.BatchNorm1d(dense) if batchnorm else nn.Identity(),
                                       nn.LeakyReLU(slope, True))
        # The paper's last layer is a 4x4 convolution to one output: the same as a linear layer
        # on the flattened 4x4 feature map, which is what `finish` adds.
        self.finish(dense or flat)
        init_dcgan_(self)
        if spectral_norm:  # Miyato et al. 2018 (their "setting C" is DCGAN's Adam 2e-4, 0.5)
            spectral_norm_all(self)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        x = self.net(x)
        return x if self.dense is None else self.dense(x)


def init_dcgan_(module: nn.Module) -> None:
    """N(0, 0.02) for conv/linear weights, N(1, 0.02) for BatchNorm scales (Radford et al.)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
