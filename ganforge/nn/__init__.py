"""Reusable layers and helpers: equalized layers, normalisations, self-attention, spectral norm,
latent sampling and interpolation, orthogonal regularization, weight averaging, a folded
upsample-then-convolve."""

from ganforge.nn.attention import SelfAttention
from ganforge.nn.ema import ExponentialMovingAverage, ema_decay_from_half_life
from ganforge.nn.equalized import EqualizedConv2d, EqualizedLinear
from ganforge.nn.latent import Latent, lerp, render_batches, slerp, truncated_normal
from ganforge.nn.norms import ConditionalBatchNorm2d, MinibatchStddev, PixelNorm
from ganforge.nn.orthogonal import orthogonal_init_, orthogonal_regularization
from ganforge.nn.spectral import largest_singular_value, refresh_power_iteration, spectral_norm_all, weight_matrix
from ganforge.nn.upsample_conv import upsample_conv3x3

__all__ = [
    "ConditionalBatchNorm2d",
    "EqualizedConv2d",
    "EqualizedLinear",
    "ExponentialMovingAverage",
    "Latent",
    "MinibatchStddev",
    "PixelNorm",
    "SelfAttention",
    "ema_decay_from_half_life",
    "largest_singular_value",
    "lerp",
    "orthogonal_init_",
    "orthogonal_regularization",
    "refresh_power_iteration",
    "render_batches",
    "slerp",
    "spectral_norm_all",
    "truncated_normal",
    "upsample_conv3x3",
    "weight_matrix",
]
