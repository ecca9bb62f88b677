"""BEGAN (Berthelot et al. 2017): an auto-encoder discriminator and a generator with the
architecture of its decoder.

Encoder: a 3x3 convolution, then one block per scale of two 3x3 convolutions, each block but the
last followed by a stride-2 3x3 convolution that subsamples and widens (n, 2n, 3n, ... channels),
then a fully connected layer to the embedding h. Decoder: a fully connected layer from h to an
8x8 map of n channels, one block of two 3x3 convolutions per scale with nearest-neighbour 2x
upsampling between blocks, and a 3x3 convolution to the image channels. ELU after every
convolution except the last. The number of scales follows the image size (8 * 2^k).

`skip=True` adds the paper's optional skip connections: after every upsampling
the decoder's map is concatenated with its first 8x8 map h0, upsampled to the same size, so the
embedding reaches every scale without passing through all the convolutions before it. Without
them, PyTorch's default initialisation leaves a decoder's output nearly independent of its input
through the ~12 ELU convolutions at 32x32 (benchmarks/RESULTS.md, BEGAN).

`autoencoder="small"` replaces the paper's deep auto-encoder D by the small one most MNIST BEGAN
implementations use (not the paper's): one stride-2 3x3 convolution and ReLU, a fully connected
layer to h; back through batch norm and ReLU, a fully connected layer to the half-size map, batch
norm and ReLU, 2x nearest upsampling and a 3x3 convolution. Its batch norms are what keep G off a
collapse: D sees the reals and the fakes as separate batches, so a batch of near-identical fakes is
normalised onto one fixed image and reconstructed badly (the paper's D reconstructs the blank or
one-stroke images G then settles on better than any digit; benchmarks/RESULTS.md, BEGAN).

The generator applies tanh to the decoder's output so its samples lie in [-1, 1] like most
ganforge generators; `tanh=False` leaves it linear, as the paper's decoder (and PGGAN's G; images
are clamped to [-1, 1] only when written). The discriminator's reconstruction has no output
activation (as in the paper).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import ConfigError
from ..nn import upsample_conv3x3
from .base import Discriminator, Generator, check_choice

BASE = 8  # the decoder starts from (and the encoder ends at) an 8x8 map


def _scales(data_shape: tuple[int, ...]) -> tuple[int, int]:
    """(image channels, number of 2x resolution changes between 8x8 and the image size)."""
    if len(data_shape) != 3:
        raise ConfigError("BEGAN models need image data")
    size = data_shape[-1]
    k = math.log2(size / BASE) if size >= BASE else -1
    if k < 0 or not k.is_integer():
        raise ConfigError(f"BEGAN needs an image size of 8 * 2^k (8, 16, 32, 64, ...), got {size}")
    return data_shape[0], int(k)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride, 1)


class Encoder(nn.Module):
    def __init__(self, channels: int, width: int, hidden: int, scales: int):
        super().__init__()
        layers: list[nn.Module] = [_conv(channels, width), nn.ELU()]
        for i in range(scales + 1):
            ch = width * (i + 1)
            layers += [_conv(ch, ch), nn.ELU(), _conv(ch, ch), nn.ELU()]
            if i < scales:
                layers += [_conv(ch, ch + width, stride=2), nn.ELU()]
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.fc = nn.Linear(width * (scales + 1) * BASE * BASE, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.net(x))


class Decoder(nn.Module):
    def __init__(self, channels: int, width: int, hidden: int, scales: int, skip: bool = False):
        super().__init__()
        self.width, self.skip = width, skip
        self.fc = nn.Linear(hidden, width * BASE * BASE)
        layers: list[nn.Module] = []
        for i in range(scales + 1):
            first_in = 2 * width if skip and i > 0 else width  # h0 joins after each upsampling
            layers += [_conv(first_in, width), nn.ELU(), _conv(width, width), nn.ELU()]
            if i < scales:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        layers.append(_conv(width, channels))
        self.net = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h0 = self.fc(h).view(h.shape[0], self.width, BASE, BASE)
        x = h0
        for layer in self.net:
            x = layer(x)
            if self.skip and isinstance(layer, nn.Upsample):
                x = torch.cat([x, nn.functional.interpolate(h0, size=x.shape[-2:], mode="nearest")], 1)
        return x


class SmallEncoder(nn.Module):
    def __init__(self, channels: int, width: int, hidden: int, size: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, width, 3, 2, 1), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(width * (size // 2) ** 2, hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SmallDecoder(nn.Module):
    def __init__(self, channels: int, width: int, hidden: int, size: int):
        super().__init__()
        flat = width * (size // 2) ** 2
        self.net = nn.Sequential(nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, flat),
                                 nn.BatchNorm1d(flat), nn.ReLU(), nn.Unflatten(1, (width, size // 2, size // 2)),
                                 nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, channels, 3, 1, 1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # The last two layers run folded at the half-size map (the same result, ~10x cheaper on
        # a CPU than upsampling the wide map first; ganforge/nn/upsample_conv.py).
        return upsample_conv3x3(self.net[:-2](h), self.net[-1])


AUTOENCODERS = ("paper", "small")


class BEGANGenerator(Generator):
    """The decoder's architecture from z (the paper's N_z = h = 64, n = 128 filters)."""

    def __init__(self, data_shape: tuple[int, ...], num_classes: int = 0, z_dim: int = 64,
                 width: int = 64, conditioning: str = "none", skip: bool = False, tanh: bool = True):
        super().__init__(z_dim, num_classes, conditioning)
        channels, scales = _scales(data_shape)
        self.decoder = Decoder(channels, width, self.input_dim, scales, skip)
        self.tanh = tanh

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        x = self.decoder(self.condition(z, labels))
        return torch.tanh(x) if self.tanh else x


class BEGANDiscriminator(Discriminator):
    """Auto-encoder D. `features` is the embedding h; `reconstruct` the decoded image;
    `forward` the negated per-sample L1 reconstruction error (higher = judged more real), so
    code that treats D as a scorer (penalties, probes) still works."""

    def __init__(self, data_shape: tuple[int, ...], num_classes: int = 0, width: int = 64,
                 hidden: int = 64, skip: bool = False, autoencoder: str = "paper"):
        super().__init__(data_shape, num_classes, "none")
        check_choice(autoencoder, AUTOENCODERS, "discriminator.autoencoder")
        channels, scales = _scales(data_shape)
        if autoencoder == "small":
            if skip:
                raise ConfigError("discriminator.skip belongs to the paper's decoder: "
                                  "it cannot be used with discriminator.autoencoder = 'small'")
            size = data_shape[-1]
            self.encoder = SmallEncoder(channels, width, hidden, size)
            self.decoder = SmallDecoder(channels, width, hidden, size)
        else:
            self.encoder = Encoder(channels, width, hidden, scales)
            self.decoder = Decoder(channels, width, hidden, scales, skip)
        self.feature_dim = hidden  # heads (add_head) attach to the embedding

    def features(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))

    def reconstruction_error(self, x: torch.Tensor) -> torch.Tensor:
        """L(v) = |v - D(v)| per sample, the mean absolute error over its pixels."""
        return (x - self.reconstruct(x)).abs().flatten(1).mean(1)

    def logit(self, feats: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError("the BEGAN discriminator scores an image by reconstructing it; "
                                  "call D(x) or D.reconstruction_error(x)")

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return -self.reconstruction_error(x)
