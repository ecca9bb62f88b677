"""Self-attention block (Zhang et al. 2019, SAGAN), in the form BigGAN uses (Brock et al. 2019)."""

import torch
import torch.nn.functional as F
from torch import nn


class SelfAttention(nn.Module):
    """Non-local self-attention over the pixels of a feature map, added as a gated residual.

    Queries theta (C/8 channels), keys phi (C/8) and values g (C/2) come from bias-free 1x1
    convolutions; keys and values are 2x2 max-pooled, which cuts the attention cost by 4 as in
    BigGAN's code. Attention is a plain softmax over ``theta^T phi`` (no 1/sqrt(d) scaling in
    SAGAN). A 1x1 conv maps the attended values back to C channels, and the result is added to
    the input scaled by ``gamma``, which starts at 0 so the block is the identity at init and
    learns how much non-local evidence to use. Needs C divisible by 8 and even H, W.
    Spectral normalisation, if wanted, is applied from outside (``spectral_norm_all``).
    """

    def __init__(self, channels: int):
        super().__init__()
        if channels % 8:
            raise ValueError(f"SelfAttention needs channels divisible by 8, got {channels}")
        self.channels = channels
        self.theta = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.phi = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.g = nn.Conv2d(channels, channels // 2, 1, bias=False)
        self.out = nn.Conv2d(channels // 2, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        # Rows are positions, in one head: query [N, 1, HW, C/8], key [N, 1, HW/4, C/8], value
        # [N, 1, HW/4, C/2] (the 4-D layout every exporter's attention op takes, ONNX's too).
        query = self.theta(x).flatten(2).transpose(1, 2).unsqueeze(1)
        key = F.max_pool2d(self.phi(x), 2).flatten(2).transpose(1, 2).unsqueeze(1)
        value = F.max_pool2d(self.g(x), 2).flatten(2).transpose(1, 2).unsqueeze(1)
        # scale=1.0 keeps SAGAN's unscaled softmax; the fused kernel saves the HW x HW/4 matrix.
        attended = F.scaled_dot_product_attention(query, key, value, scale=1.0)
        attended = attended.squeeze(1).transpose(1, 2).reshape(n, c // 2, h, w)
        return x + self.gamma * self.out(attended)

    def extra_repr(self) -> str:
        return f"channels={self.channels}"
