"""PGGAN (Karras et al. 2018, "Progressive Growing of GANs"): networks that grow from 4x4.

Both networks are built at full size; a stage index and a fade-in weight alpha choose which blocks
run. Stage s works at resolution 4 * 2^s. While stage s fades in (alpha < 1):

    G(z) = (1 - alpha) * upsample(toRGB[s-1](h)) + alpha * toRGB[s](block[s](h))
    D(x) = rest(lerp(fromRGB[s-1](avgpool(x)), block[s](fromRGB[s](x)), alpha))

with h the output of G's blocks 0..s-1 and `rest` D's blocks s-1..1 and its final block.
G's samples and D's inputs are at the current resolution, 4 * 2^stage pixels square.

Layers follow the paper's Table 2: every convolution and dense layer has an equalized learning
rate (gain sqrt(2); 1 for toRGB and D's output), G normalises the latent and every feature
vector with PixelNorm, activations are leaky ReLU 0.2, G's output is linear, D ends with
minibatch stddev, a 3x3 conv and two dense layers. Widths are min(channel_base / 2^stage,
channel_max): the paper's 512, 512, 512, 512, 256, 128, 64, 32, 16 from 4x4 to 1024x1024 is
channel_base 4096, channel_max 512.

The stage and alpha are buffers, so checkpoints, the EMA copy of G (which copies buffers) and
`ganforge.load` all carry them. They stay in host memory whatever device the network is on:
choosing the blocks to run reads them on every call, and that must not wait for the device.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..nn import EqualizedConv2d, EqualizedLinear, MinibatchStddev, PixelNorm
from .base import Discriminator, Generator

SLOPE = 0.2  # leaky ReLU slope everywhere


def stage_resolution(stage: int) -> int:
    return 4 * 2 ** stage


def stage_channels(stage: int, channel_base: int, channel_max: int) -> int:
    """Feature maps at a stage (stage 0 is 4x4): min(channel_base / 2^stage, channel_max)."""
    return max(1, min(channel_base // 2 ** stage, channel_max))


def _stage_count(data_shape: tuple[int, ...]) -> tuple[int, int]:
    """(image channels, number of stages) for square power-of-two images of at least 4x4."""
    if len(data_shape) != 3:
        raise ConfigError("PGGAN models need image data")
    channels, height, width = data_shape
    n = math.log2(width) if width > 0 else 0
    if height != width or not n.is_integer() or width < 4:
        raise ConfigError(f"PGGAN needs square power-of-two images of at least 4x4, got {height}x{width}")
    return channels, int(n) - 1


class _Growing:
    """The growth state shared by G and D: `stage` and `alpha` buffers kept on the host."""

    num_stages: int
    _HOST_BUFFERS = {"stage": torch.int64, "alpha": torch.float64}

    def _init_growth(self, num_stages: int) -> None:
        self.num_stages = num_stages
        # Full size by default: a model used outside the PGGAN family behaves as a plain network.
        self.register_buffer("stage", torch.tensor(num_stages - 1, dtype=torch.int64))
        self.register_buffer("alpha", torch.tensor(1.0, dtype=torch.float64))

    def set_growth(self, stage: int, alpha: float) -> None:
        """Run blocks 0..stage, fading the newest in with weight alpha (1 outside transitions)."""
        if not 0 <= stage < self.num_stages:
            raise ValueError(f"stage must be in 0..{self.num_stages - 1}, got {stage}")
        if not 0.0 <= alpha <= 1.0 or (stage == 0 and alpha != 1.0):
            raise ValueError(f"alpha must be in [0, 1] (and 1 at stage 0), got {alpha} at stage {stage}")
        self.stage.fill_(stage)
        self.alpha.fill_(alpha)

    @property
    def current_stage(self) -> int:
        return int(self.stage)

    @property
    def current_alpha(self) -> float:
        return float(self.alpha)

    @property
    def resolution(self) -> int:
        """Side of the images this network produces or takes now."""
        return stage_resolution(self.current_stage)

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        for name, dtype in self._HOST_BUFFERS.items():  # .to(device) / .half() leave these alone
            self._buffers[name] = self._buffers[name].to("cpu", dtype)
        return out


class _FirstBlock(nn.Module):
    """Latent -> 4x4: dense, then a 3x3 conv, each followed by leaky ReLU and PixelNorm."""

    def __init__(self, z_dim: int, channels: int):
        super().__init__()
        self.channels = channels
        # The paper's first layer is a 4x4 conv on the latent padded to 4x4, whose fan-in is 16x
        # the dense layer's; the authors' code keeps that scale with gain sqrt(2) / 4.
        self.dense = EqualizedLinear(z_dim, channels * 16, gain=math.sqrt(2) / 4)
        self.conv = EqualizedConv2d(channels, channels, 3)
        self.norm = PixelNorm()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.dense(z).view(z.shape[0], self.channels, 4, 4)
        x = self.norm(F.leaky_relu(x, SLOPE))
        return self.norm(F.leaky_relu(self.conv(x), SLOPE))


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class _UpBlock(nn.Module):
    """Nearest 2x upsample, then two 3x3 convs, each followed by leaky ReLU and PixelNorm."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = EqualizedConv2d(in_channels, out_channels, 3)
        self.conv2 = EqualizedConv2d(out_channels, out_channels, 3)
        self.norm = PixelNorm()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(F.leaky_relu(self.conv1(_upsample(x)), SLOPE))
        return self.norm(F.leaky_relu(self.conv2(x), SLOPE))


class PGGANGenerator(_Growing, Generator):
    """G of Karras et al. 2018; samples at the current stage's resolution, linear output."""

    def __init__(self, data_shape: tuple[int, ...], num_classes: int = 0, z_dim: int = 512,
                 channel_base: int = 4096, channel_max: int = 512, conditioning: str = "none"):
        super().__init__(z_dim, num_classes, conditioning)
        image_channels, stages = _stage_count(data_shape)
        ch = [stage_channels(s, channel_base, channel_max) for s in range(stages)]
        self.latent_norm = PixelNorm()
        self.blocks = nn.ModuleList(
            [_FirstBlock(self.input_dim, ch[0])] + [_UpBlock(ch[s - 1], ch[s]) for s in range(1, stages)])
        self.to_rgb = nn.ModuleList(
            [EqualizedConv2d(ch[s], image_channels, 1, gain=1.0) for s in range(stages)])
        self._init_growth(stages)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.synthesize(z, labels, self.current_stage, self.current_alpha)

    def synthesize(self, z: torch.Tensor, labels: torch.Tensor | None, stage: int,
                   alpha: float = 1.0) -> torch.Tensor:
        """G at a given stage and fade-in weight. `forward` reads them from the growth buffers on
        the host, which a graph capture (torch.export, ONNX) cannot do: exporting calls this with
        the stage as a constant (see ganforge.export)."""
        h = self.latent_norm(self.condition(z, labels))
        for block in self.blocks[:stage]:
            h = block(h)
        new = self.to_rgb[stage](self.blocks[stage](h))
        if alpha >= 1.0:
            return new
        old = _upsample(self.to_rgb[stage - 1](h))
        return torch.lerp(old, new, alpha)


class _DownBlock(nn.Module):
    """Two 3x3 convs with leaky ReLU, then 2x2 average pooling."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = EqualizedConv2d(in_channels, in_channels, 3)
        self.conv2 = EqualizedConv2d(in_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv1(x), SLOPE)
        return F.avg_pool2d(F.leaky_relu(self.conv2(x), SLOPE), 2)


class _FinalBlock(nn.Module):
    """4x4 -> features: minibatch stddev, 3x3 conv, dense, each with leaky ReLU."""

    def __init__(self, channels: int, group_size: int):
        super().__init__()
        self.stddev = MinibatchStddev(group_size)
        self.conv = EqualizedConv2d(channels + 1, channels, 3)
        self.dense = EqualizedLinear(channels * 16, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.conv(self.stddev(x)), SLOPE)
        return F.leaky_relu(self.dense(x.flatten(1)), SLOPE)


class _FromRGB(nn.Module):
    def __init__(self, image_channels: int, channels: int):
        super().__init__()
        self.conv = EqualizedConv2d(image_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x), SLOPE)


class PGGANDiscriminator(_Growing, Discriminator):
    """D of Karras et al. 2018 (the mirror of G); takes images at the current stage's resolution.
    `mbstd_group` is the minibatch-stddev group size. Conditioning: none or projection."""

    def __init__(self, data_shape: tuple[int, ...], num_classes: int = 0, channel_base: int = 4096,
                 channel_max: int = 512, mbstd_group: int = 4, conditioning: str = "none"):
        if conditioning == "concat":
            raise ConfigError("the PGGAN discriminator takes conditioning none or projection "
                              "(a label plane cannot follow its changing input size)")
        super().__init__(data_shape, num_classes, conditioning)
        image_channels, stages = _stage_count(data_shape)
        ch = [stage_channels(s, channel_base, channel_max) for s in range(stages)]
        self.from_rgb = nn.ModuleList([_FromRGB(image_channels, ch[s]) for s in range(stages)])
        # blocks[0] is the final 4x4 block; blocks[s] takes stage s's resolution down by half.
        self.blocks = nn.ModuleList(
            [_FinalBlock(ch[0], mbstd_group)] + [_DownBlock(ch[s], ch[s - 1]) for s in range(1, stages)])
        self.finish(ch[0])
        self.out = EqualizedLinear(ch[0], 1, gain=1.0)  # the paper's last dense layer, gain 1
        self._init_growth(stages)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        stage, alpha = self.current_stage, self.current_alpha
        size = stage_resolution(stage)
        if x.shape[-2:] != (size, size):
            raise ValueError(f"the discriminator is at {size}x{size} (stage {stage}), "
                             f"got images of {x.shape[-2]}x{x.shape[-1]}")
        h = self.from_rgb[stage](x)
        if stage > 0:
            h = self.blocks[stage](h)
            if alpha < 1.0:
                h = torch.lerp(self.from_rgb[stage - 1](F.avg_pool2d(x, 2)), h, alpha)
        for s in range(stage - 1, 0, -1):
            h = self.blocks[s](h)
        return self.blocks[0](h)
