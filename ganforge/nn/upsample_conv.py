"""A 2x nearest-neighbour upsampling followed by a 3x3 convolution, computed at the low resolution.

Each output pixel of conv3x3(upsample(x)) falls in one of four parity classes (row and column
even or odd), and for each class the nine taps read only a 2x2 neighbourhood of x: along a row,
an even output row sums x[i-1] * w0 + x[i] * (w1 + w2), an odd one x[i] * (w0 + w1) + x[i+1] * w2.
So one convolution of x with the four folded kernels (four times the output channels), then a
pixel shuffle, gives the same result with the same multiply-adds but without writing, reading and
back-propagating through the 4x larger upsampled map. On a CPU that map dominates small
decoders: BEGAN's small auto-encoder spends most of a training step there.

The convolution module keeps its own weights, so models and checkpoints are unchanged; only the
arithmetic order differs (results agree to float rounding).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# _FOLD[a, new tap, old tap]: which of the 3x3 kernel's taps along one axis land on each of the
# folded kernel's taps (offsets -1, 0, +1 in x) for output parity a.
_FOLD = torch.tensor([[[1., 0., 0.], [0., 1., 1.], [0., 0., 0.]],
                      [[0., 0., 0.], [1., 1., 0.], [0., 0., 1.]]])


def foldable(conv: nn.Conv2d) -> bool:
    """Whether `conv` is a plain 3x3, stride 1, padding 1 convolution (the case folded here)."""
    return (isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.padding == (1, 1) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros")


def upsample_conv3x3(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """conv(F.interpolate(x, scale_factor=2, mode="nearest")) for a 3x3 conv with padding 1."""
    if not foldable(conv):
        return conv(F.interpolate(x, scale_factor=2, mode="nearest"))
    w = conv.weight
    fold = _FOLD.to(device=w.device, dtype=w.dtype)
    out_ch, in_ch = w.shape[:2]
    kernels = torch.einsum("aps,bqt,oist->oabipq", fold, fold, w).reshape(out_ch * 4, in_ch, 3, 3)
    bias = conv.bias.repeat_interleave(4) if conv.bias is not None else None
    return F.pixel_shuffle(F.conv2d(x, kernels, bias, padding=1), 2)
