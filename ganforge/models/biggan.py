"""BigGAN (Brock et al. 2019, "Large Scale GAN Training for High Fidelity Natural Image Synthesis").

Generator: z is split into equal chunks ("skip-z", a hierarchical latent). The first chunk goes
through a linear layer to a 4x4 map; each residual up-block receives one further chunk
concatenated with a class embedding shared by all blocks, and its class-conditional BatchNorms
compute their gains (1 + linear) and biases (linear) from that vector. A block is
cBN-ReLU-upsample-conv3x3-cBN-ReLU-conv3x3 plus a 1x1 shortcut of the upsampled input; the
output is BN-ReLU-conv3x3-tanh.

Discriminator: residual down-blocks (ReLU before each conv except on the image, 2x2 average
pooling), ReLU, global sum pooling, a linear output plus the projection of a class embedding on
the pooled features (Miyato & Koyama 2018).

Both: a SAGAN self-attention block (gamma 0 at init) after the block that reaches
`attention_resolution`; spectral normalisation of every convolution and linear layer (and of D's
projection embedding; G's class embeddings are lookup tables and stay free, as in the authors'
code); orthogonal initialisation.

Widths are `width` (the paper's "ch") times one multiplier per stage. The defaults are the
authors' layer tables: at 128x128 G has 16,16,8,4,2,1 (4x4 input and five up-blocks) and D has
1,2,4,8,16,16 (five down-blocks and a last block without pooling), with ch = 96 in the paper.

Each technique can be switched off to measure it: `hierarchical=False` feeds all of z to the first
linear layer, `shared_embedding=False` gives each block its own class embedding,
`attention_resolution=0` drops self-attention, `spectral_norm=False` drops spectral norm.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..nn import ConditionalBatchNorm2d, SelfAttention, orthogonal_init_, spectral_norm_all
from .base import Discriminator, Generator, check_choice

BIGGAN_G_CONDITIONING = ("none", "batchnorm")

# The authors' stage multipliers for each output size (G: 4x4 input, then one per up-block;
# D: one per block, all but the last pooling down to 4x4).
G_MULTIPLIERS = {64: (16, 16, 8, 4, 2), 128: (16, 16, 8, 4, 2, 1), 256: (16, 16, 8, 8, 4, 2, 1),
                 512: (16, 16, 8, 8, 4, 2, 1, 1)}
D_MULTIPLIERS = {64: (1, 2, 4, 8, 16), 128: (1, 2, 4, 8, 16, 16), 256: (1, 2, 4, 8, 8, 16, 16),
                 512: (1, 1, 2, 4, 8, 8, 16, 16)}
# Smaller images (the 32x32 CIFAR architecture, which BigGAN shares with SNGAN): 4 x ch everywhere.
SMALL_MULTIPLIER = 4


def _image_shape(data_shape: tuple[int, ...]) -> tuple[int, int]:
    if len(data_shape) != 3 or data_shape[1] != data_shape[2]:
        raise ConfigError(f"BigGAN models need square image data, got shape {tuple(data_shape)}")
    size = data_shape[-1]
    if size < 8 or not math.log2(size).is_integer():
        raise ConfigError(f"BigGAN needs a power-of-two image size >= 8, got {size}")
    return data_shape[0], size


def _checked(values: tuple[int, ...], what: str) -> tuple[int, ...]:
    if min(values) < 1:
        raise ConfigError(f"{what}.multipliers must be positive, got {list(values)}")
    return values


def generator_multipliers(size: int, given=()) -> tuple[int, ...]:
    """G's channel multipliers for `size`x`size` output: the 4x4 input then one per up-block
    (the authors' table when none are given)."""
    count = int(math.log2(size)) - 1
    values = tuple(int(m) for m in given) or G_MULTIPLIERS.get(size, (SMALL_MULTIPLIER,) * count)
    if len(values) != count:
        raise ConfigError(f"generator.multipliers needs {count} entries at {size}x{size}, got {len(values)}")
    return _checked(values, "generator")


def discriminator_multipliers(size: int, final_resolution: int, given=()) -> tuple[int, ...]:
    """D's output multiplier per block; the first log2(size / final_resolution) blocks pool, the
    rest keep the resolution (the authors' table when none are given)."""
    downs = int(math.log2(size // final_resolution))
    default = D_MULTIPLIERS.get(size) if final_resolution == 4 else None
    values = tuple(int(m) for m in given) or default or (SMALL_MULTIPLIER,) * (downs + 1)
    if len(values) < downs:
        raise ConfigError(f"discriminator.multipliers needs at least {downs} entries to pool "
                          f"{size}x{size} down to {final_resolution}x{final_resolution}, got {len(values)}")
    return _checked(values, "discriminator")


def discriminator_stages(width: int, size: int, final_resolution: int, given=()) -> tuple[list[int], int]:
    """(D's channels per block, how many of them pool), after checking final_resolution."""
    if final_resolution < 1 or final_resolution > size or not math.log2(final_resolution).is_integer():
        raise ConfigError(f"discriminator.final_resolution must be a power of two <= {size}, "
                          f"got {final_resolution}")
    stages = [width * m for m in discriminator_multipliers(size, final_resolution, given)]
    return stages, int(math.log2(size // final_resolution))


def _attention(channels: int, what: str) -> SelfAttention:
    if channels % 8:
        raise ConfigError(f"{what}: self-attention needs a width divisible by 8 at its resolution, "
                          f"got {channels} channels")
    return SelfAttention(channels)


def _check_attention(resolution: int, available: list[int], what: str) -> None:
    if resolution and resolution not in available:
        raise ConfigError(f"{what}.attention_resolution {resolution} is not a block resolution of this "
                          f"model; choose one of {', '.join(map(str, available))} or 0 for none")


def place_attention(resolution: int, resolutions: list[int], channels: list[int],
                    what: str) -> tuple[int, SelfAttention | None]:
    """Self-attention after the first block whose output has `resolution` (0: none): that block's
    index (-1 for none) and the layer, built for the block's `channels`."""
    # Entries of 0 mark blocks that attention may not follow (inside a BigGAN-deep resolution).
    _check_attention(resolution, list(dict.fromkeys(r for r in resolutions if r)), what)
    if not resolution:
        return -1, None
    after = resolutions.index(resolution)
    return after, _attention(channels[after], what)


# ---------------------------------------------------------------- generator

def _norm(channels: int, cond_dim: int, spectral_norm: bool) -> nn.Module:
    """Conditional BatchNorm; plain BatchNorm (learned gain and bias) for an unconditional,
    non-hierarchical G, which has no condition vector."""
    if cond_dim == 0:
        return nn.BatchNorm2d(channels)
    return ConditionalBatchNorm2d(channels, cond_dim, spectral_norm=spectral_norm)


class GBlock(nn.Module):
    """cBN-ReLU-upsample-conv3x3-cBN-ReLU-conv3x3, plus a 1x1 conv of the upsampled input."""

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int, spectral_norm: bool):
        super().__init__()
        self.bn1 = _norm(in_channels, cond_dim, spectral_norm)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.bn2 = _norm(out_channels, cond_dim, spectral_norm)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1)
        self.conditional = cond_dim > 0

    def _normalize(self, bn: nn.Module, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        return bn(x, cond) if self.conditional else bn(x)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        h = F.interpolate(F.relu(self._normalize(self.bn1, x, cond)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self._normalize(self.bn2, self.conv1(h), cond)))
        # A 1x1 conv commutes with nearest upsampling: convolving first is the same, 4x cheaper.
        return h + F.interpolate(self.shortcut(x), scale_factor=2, mode="nearest")


class ResidualGenerator(Generator):
    """The frame BigGAN and BigGAN-deep share: a linear layer to a 4x4 map, residual up-blocks
    that each take a condition vector for their BatchNorms, self-attention after block
    `attention_after` (-1: none), BN-ReLU-conv3x3-tanh out. Subclasses build `linear`, `blocks`
    and `attention`, add the output with `add_output`, and say what the linear layer and each
    block see (`inputs`)."""

    def __init__(self, z_dim: int, num_classes: int, conditioning: str):
        check_choice(conditioning, BIGGAN_G_CONDITIONING, "generator.conditioning")
        super().__init__(z_dim, num_classes, "none")  # class input goes to the BatchNorms instead
        if conditioning != "none" and num_classes < 2:
            raise ConfigError("a conditional generator needs labelled data (num_classes >= 2); "
                              "set generator.conditioning=none for unlabelled data")
        self.conditioning = conditioning

    def stages(self, data_shape: tuple[int, ...], width: int, multipliers) -> tuple[int, int, list[int]]:
        """(image channels, image size, channels after the linear layer and after each block)."""
        channels, size = _image_shape(data_shape)
        return channels, size, [width * m for m in generator_multipliers(size, multipliers)]

    def add_output(self, channels: int, image_channels: int) -> None:
        self.out_bn = nn.BatchNorm2d(channels)
        self.to_image = nn.Conv2d(channels, image_channels, 3, padding=1)

    def inputs(self, z: torch.Tensor, labels: torch.Tensor | None
               ) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
        """The linear layer's input and each block's condition vector."""
        raise NotImplementedError

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        first, conditions = self.inputs(z, labels)
        h = self.linear(first).view(z.shape[0], -1, 4, 4)
        for i, (block, cond) in enumerate(zip(self.blocks, conditions)):
            h = block(h, cond)
            if i == self.attention_after:
                h = self.attention(h)
        return torch.tanh(self.to_image(F.relu(self.out_bn(h))))


class BigGANGenerator(ResidualGenerator):
    def __init__(self, data_shape: tuple[int, ...], num_classes: int = 0, z_dim: int = 120,
                 width: int = 96, multipliers: tuple[int, ...] = (), shared_dim: int = 128,
                 hierarchical: bool = True, shared_embedding: bool = True,
                 attention_resolution: int = 64, spectral_norm: bool = True,
                 conditioning: str = "batchnorm"):
        super().__init__(z_dim, num_classes, conditioning)
        channels, size, stages = self.stages(data_shape, width, multipliers)
        n_blocks = len(stages) - 1
        self.hierarchical, self.shared_embedding = hierarchical, shared_embedding
        if hierarchical and z_dim < n_blocks + 1:
            raise ConfigError(f"hierarchical z needs z_dim >= {n_blocks + 1} (one chunk per block "
                              f"plus the input), got {z_dim}")
        # Equal chunks; when z_dim does not divide evenly the remainder goes to the input chunk.
        slots = n_blocks + 1 if hierarchical else 1
        self.chunk_sizes = [z_dim // slots + z_dim % slots] + [z_dim // slots] * (slots - 1)
        conditional = conditioning != "none"
        embed_dim = shared_dim if conditional else 0
        cond_dim = embed_dim + (self.chunk_sizes[1] if hierarchical else 0)

        self.linear = nn.Linear(self.chunk_sizes[0], stages[0] * 16)
        self.blocks = nn.ModuleList(
            GBlock(stages[i], stages[i + 1], cond_dim, spectral_norm) for i in range(n_blocks))
        resolutions = [8 * 2 ** i for i in range(n_blocks)]  # each block's output size
        self.attention_after, self.attention = place_attention(
            attention_resolution, resolutions, stages[1:], "generator")
        self.add_output(stages[-1], channels)
        if spectral_norm:
            for part in (self.linear, self.blocks, self.attention, self.to_image):
                if part is not None:
                    spectral_norm_all(part)
        # Class embeddings: one shared by every block, or one per block (the ablation).
        self.shared = nn.Embedding(num_classes, shared_dim) if conditional and shared_embedding else None
        self.embeddings = (nn.ModuleList(nn.Embedding(num_classes, shared_dim) for _ in range(n_blocks))
                           if conditional and not shared_embedding else None)
        orthogonal_init_(self)

    def class_embeddings(self) -> list[nn.Embedding]:
        """The class embedding tables (excluded from orthogonal regularization)."""
        if self.shared is not None:
            return [self.shared]
        return list(self.embeddings) if self.embeddings is not None else []

    def block_conditions(self, z: torch.Tensor, labels: torch.Tensor | None) -> list[torch.Tensor | None]:
        """The vector each block's BatchNorms see: [class embedding, z chunk] (either may be absent)."""
        chunks = z.split(self.chunk_sizes, dim=1)[1:] if self.hierarchical else []
        if self.conditioning != "none" and labels is None:
            raise ValueError("this generator is conditional: pass labels")
        shared = self.shared(labels) if self.shared is not None else None
        conditions = []
        for i in range(len(self.blocks)):
            parts = []
            if shared is not None:
                parts.append(shared)
            elif self.embeddings is not None:
                parts.append(self.embeddings[i](labels))
            if chunks:
                parts.append(chunks[i])
            conditions.append(torch.cat(parts, dim=1) if parts else None)
        return conditions

    def inputs(self, z: torch.Tensor, labels: torch.Tensor | None
               ) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
        return z[:, :self.chunk_sizes[0]], self.block_conditions(z, labels)


# ---------------------------------------------------------------- discriminator

class DBlock(nn.Module):
    """[ReLU]-conv3x3-ReLU-conv3x3-[avgpool] plus a 1x1 conv shortcut. The first block sees the
    image, so it has no leading ReLU and pools before its shortcut conv (cheaper, the same map)."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool, preactivation: bool):
        super().__init__()
        self.downsample, self.preactivation = downsample, preactivation
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.shortcut = (nn.Conv2d(in_channels, out_channels, 1)
                         if in_channels != out_channels or downsample else None)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        if self.shortcut is None:
            return h + x
        skip = self._pool(self.shortcut(x)) if self.preactivation else self.shortcut(self._pool(x))
        return h + skip


class ResidualDiscriminator(Discriminator):
    """The frame BigGAN and BigGAN-deep share: residual blocks, self-attention after block
    `attention_after` (-1: none), ReLU and global sum pooling. Subclasses build `blocks` and
    `attention` through `set_blocks`, and may map the image first (`stem`)."""

    def set_blocks(self, blocks: list[nn.Module], resolutions: list[int], outputs: list[int],
                   attention_resolution: int, spectral_norm: bool) -> None:
        """Keep the blocks (each block's output resolution, 0 where attention may not follow it,
        and its channels), place attention, add the output layer, then normalise and initialise."""
        self.blocks = nn.ModuleList(blocks)
        self.attention_after, self.attention = place_attention(
            attention_resolution, resolutions, outputs, "discriminator")
        self.finish(outputs[-1])  # linear output and, for "projection", the class embedding
        if spectral_norm:
            spectral_norm_all(self)
        orthogonal_init_(self)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def body(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i == self.attention_after:
                h = self.attention(h)
        return F.relu(h).sum(dim=(2, 3))  # global sum pooling


class BigGANDiscriminator(ResidualDiscriminator):
    def __init__(self, data_shape: tuple[int, ...], num_classes: int = 0, width: int = 96,
                 multipliers: tuple[int, ...] = (), final_resolution: int = 4,
                 attention_resolution: int = 64, spectral_norm: bool = True,
                 conditioning: str = "projection"):
        super().__init__(data_shape, num_classes, conditioning)
        channels, size = _image_shape(data_shape)
        stages, downs = discriminator_stages(width, size, final_resolution, multipliers)
        ins = [self.input_channels(channels)] + stages[:-1]
        blocks = [DBlock(ins[i], stages[i], downsample=i < downs, preactivation=i > 0) for i in range(len(stages))]
        resolutions = [max(size >> (i + 1), final_resolution) for i in range(len(stages))]
        self.set_blocks(blocks, resolutions, stages, attention_resolution, spectral_norm)
