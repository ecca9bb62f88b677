"""BigGAN-deep (Brock et al. 2019, appendix B): BigGAN four times deeper, with bottleneck blocks.

Generator: z is not split. It is concatenated with the shared class embedding, and that one
vector is the input of the first linear layer (to a 4x4 map, as in the authors' code) and the
condition of every conditional BatchNorm. Each resolution has `depth` (2) bottleneck blocks:
cBN-ReLU-conv1x1 (to channels / `bottleneck`) - cBN-ReLU-[upsample]-conv3x3 - cBN-ReLU-conv3x3 -
cBN-ReLU-conv1x1 (to the output channels), where the hidden width is the block's input width / 4.
Only the last block of a resolution upsamples and changes the width; its skip path keeps the
input's first channels instead of a 1x1 conv, so the width may only stay or shrink.

Discriminator: a 3x3 conv from the image, then `depth` bottleneck blocks per resolution:
ReLU-conv1x1 (to out / `bottleneck`) - ReLU-conv3x3 - ReLU-conv3x3 - ReLU-[avgpool]-conv1x1. The
first block of a resolution pools and widens; its skip path keeps the (pooled) input and appends
the output of a 1x1 conv for the new channels, so the width may only stay or grow. ReLU, global
sum pooling, linear output plus the class projection, as in BigGAN's D.

Both reuse BigGAN's frame (`ResidualGenerator` / `ResidualDiscriminator`), its layer tables of
stage widths (the authors' deep tables are the same at 128x128: G 16,16,8,4,2,1 and D
1,2,4,8,16,16 times ch; ch = 128 in the paper), self-attention, spectral norm everywhere and
orthogonal initialisation. The family (hinge loss, orthogonal regularization) is BigGAN's.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..nn import ConditionalBatchNorm2d, orthogonal_init_, spectral_norm_all
from .biggan import (ResidualDiscriminator, ResidualGenerator, _image_shape, discriminator_stages,
                     place_attention)


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


def _hidden(channels: int, bottleneck: int, what: str) -> int:
    if channels < bottleneck:
        raise ConfigError(f"{what}: a bottleneck of {bottleneck} needs at least {bottleneck} channels "
                          f"in every block, got {channels}; raise the width or lower the bottleneck")
    return channels // bottleneck


class BottleneckGBlock(nn.Module):
    """cBN-ReLU-conv1x1-cBN-ReLU-[up]-conv3x3-cBN-ReLU-conv3x3-cBN-ReLU-conv1x1, plus the input's
    first `out_channels` channels [upsampled]."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, upsample: bool,
                 bottleneck: int, spectral_norm: bool):
        super().__init__()
        if out_channels > in_channels:
            raise ConfigError(f"generator: a BigGAN-deep block's skip path drops channels, so widths "
                              f"cannot grow ({in_channels} -> {out_channels}); make generator.multipliers "
                              f"non-increasing")
        hidden = _hidden(in_channels, bottleneck, "generator")
        self.out_channels, self.upsample = out_channels, upsample
        widths = (in_channels, hidden, hidden, hidden)
        self.norms = nn.ModuleList(ConditionalBatchNorm2d(c, cond_dim, spectral_norm=spectral_norm)
                                   for c in widths)
        self.convs = nn.ModuleList([nn.Conv2d(in_channels, hidden, 1),
                                    nn.Conv2d(hidden, hidden, 3, padding=1),
                                    nn.Conv2d(hidden, hidden, 3, padding=1),
                                    nn.Conv2d(hidden, out_channels, 1)])

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = x
        for i, (norm, conv) in enumerate(zip(self.norms, self.convs)):
            h = F.relu(norm(h, cond))
            if i == 1 and self.upsample:  # the 3x3 convs work at the new resolution
                h = _upsample(h)
            h = conv(h)
        skip = x[:, :self.out_channels]
        return h + (_upsample(skip) if self.upsample else skip)


class BigGANDeepGenerator(ResidualGenerator):
    def __init__(self, data_shape: tuple[int, ...], num_classes: int = 0, z_dim: int = 128,
                 width: int = 128, multipliers: tuple[int, ...] = (), shared_dim: int = 128,
                 depth: int = 2, bottleneck: int = 4, attention_resolution: int = 64,
                 spectral_norm: bool = True, conditioning: str = "batchnorm"):
        super().__init__(z_dim, num_classes, conditioning)
        channels, size, stages = self.stages(data_shape, width, multipliers)
        conditional = conditioning != "none"
        cond_dim = z_dim + (shared_dim if conditional else 0)

        self.linear = nn.Linear(cond_dim, stages[0] * 16)
        blocks, resolutions, outputs = [], [], []
        for i, (c_in, c_out) in enumerate(zip(stages, stages[1:])):
            for j in range(depth):
                last = j == depth - 1  # upsamples and changes the width
                blocks.append(BottleneckGBlock(c_in, c_out if last else c_in, cond_dim, last,
                                               bottleneck, spectral_norm))
                resolutions.append(8 * 2 ** i if last else 0)  # attention follows a whole resolution
                outputs.append(c_out if last else c_in)
        self.blocks = nn.ModuleList(blocks)
        self.attention_after, self.attention = place_attention(
            attention_resolution, resolutions, outputs, "generator")
        self.add_output(stages[-1], channels)
        if spectral_norm:
            for part in (self.linear, self.blocks, self.attention, self.to_image):
                if part is not None:
                    spectral_norm_all(part)
        self.shared = nn.Embedding(num_classes, shared_dim) if conditional else None
        orthogonal_init_(self)

    def class_embeddings(self) -> list[nn.Embedding]:
        """The class embedding table (excluded from orthogonal regularization)."""
        return [self.shared] if self.shared is not None else []

    def condition_vector(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """[shared class embedding, z]: the linear layer's input and every block's condition."""
        if self.shared is None:
            return z
        if labels is None:
            raise ValueError("this generator is conditional: pass labels")
        return torch.cat([self.shared(labels), z], dim=1)

    def inputs(self, z: torch.Tensor, labels: torch.Tensor | None
               ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        cond = self.condition_vector(z, labels)
        return cond, [cond] * len(self.blocks)


class BottleneckDBlock(nn.Module):
    """ReLU-conv1x1-ReLU-conv3x3-ReLU-conv3x3-ReLU-[avgpool]-conv1x1, plus the [pooled] input with
    a 1x1 conv's output appended for the new channels."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool, bottleneck: int):
        super().__init__()
        if out_channels < in_channels:
            raise ConfigError(f"discriminator: a BigGAN-deep block's skip path adds channels, so widths "
                              f"cannot shrink ({in_channels} -> {out_channels}); make "
                              f"discriminator.multipliers non-decreasing")
        hidden = _hidden(out_channels, bottleneck, "discriminator")
        self.downsample = downsample
        self.convs = nn.ModuleList([nn.Conv2d(in_channels, hidden, 1),
                                    nn.Conv2d(hidden, hidden, 3, padding=1),
                                    nn.Conv2d(hidden, hidden, 3, padding=1),
                                    nn.Conv2d(hidden, out_channels, 1)])
        self.extra = nn.Conv2d(in_channels, out_channels - in_channels, 1) if out_channels > in_channels else None

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for conv in self.convs[:3]:
            h = conv(F.relu(h))
        h = self.convs[3](self._pool(F.relu(h)))
        skip = self._pool(x)  # pooling first: the 1x1 conv then runs on a quarter of the pixels
        if self.extra is not None:
            skip = torch.cat([skip, self.extra(skip)], dim=1)
        return h + skip


class BigGANDeepDiscriminator(ResidualDiscriminator):
    def __init__(self, data_shape: tuple[int, ...], num_classes: int = 0, width: int = 128,
                 multipliers: tuple[int, ...] = (), final_resolution: int = 4, depth: int = 2,
                 bottleneck: int = 4, attention_resolution: int = 64, spectral_norm: bool = True,
                 conditioning: str = "projection"):
        super().__init__(data_shape, num_classes, conditioning)
        channels, size = _image_shape(data_shape)
        # The first multiplier is the input conv's width; each further one is a resolution's.
        stages, downs = discriminator_stages(width, size, final_resolution, multipliers)
        if len(stages) < downs + 1:
            raise ConfigError(f"discriminator.multipliers needs at least {downs + 1} entries (the input "
                              f"conv, then {downs} resolutions) to pool {size}x{size} down to "
                              f"{final_resolution}x{final_resolution}, got {len(stages)}")
        self.input_conv = nn.Conv2d(self.input_channels(channels), stages[0], 3, padding=1)
        blocks, resolutions, outputs = [], [], []
        for i, (c_in, c_out) in enumerate(zip(stages, stages[1:])):
            for j in range(depth):
                first = j == 0  # pools and widens
                blocks.append(BottleneckDBlock(c_in if first else c_out, c_out, first and i < downs,
                                               bottleneck))
                last = j == depth - 1
                resolutions.append(max(size >> (i + 1), final_resolution) if last else 0)
                outputs.append(c_out)
        self.set_blocks(blocks, resolutions, outputs, attention_resolution, spectral_norm)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.input_conv(x)
