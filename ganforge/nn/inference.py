"""A network prepared for evaluation only: BatchNorm folded into the convolution before it and
the channels-last layout. In eval mode a BatchNorm is an affine map per channel, so scaling the
convolution's weights and adding a bias computes the same function (to float rounding) with one
memory pass fewer per layer; channels-last is the layout oneDNN (CPU) and tensor cores (GPU)
convolve without reordering (benchmarks/eval_speed.py times the difference). The copy is never
trained."""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def fold_batchnorms(module: nn.Module) -> nn.Module:
    """Fold, in place, every BatchNorm2d that directly follows a 2-D (transposed) convolution in
    an nn.Sequential, and every pair a module names through a `fold_batchnorm()` method (for
    modules whose forward is bn(conv(x)) outside a Sequential). The module must be in eval mode."""
    if module.training:
        raise ValueError("fold BatchNorm only into a network in eval mode")
    for child in list(module.modules()):
        if hasattr(child, "fold_batchnorm"):
            child.fold_batchnorm()
        elif isinstance(child, nn.Sequential):
            _fold_sequential(child)
    return module


def fold_pair(conv: nn.Module, bn: nn.Module) -> tuple[nn.Module, nn.Module]:
    """(conv with the BatchNorm folded in, Identity), or the pair unchanged when it cannot fold
    (not a plain convolution and BatchNorm2d, or a BatchNorm without running statistics)."""
    if not (type(conv) in _CONVS and type(bn) is nn.BatchNorm2d and bn.track_running_stats):
        return conv, bn
    return fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, nn.ConvTranspose2d)), nn.Identity()


def inference_copy(module: nn.Module, channels_last: bool = True) -> nn.Module:
    """A copy of `module` (the eager module behind a torch.compile wrapper) in eval mode, its
    BatchNorms folded and, for image networks, in the channels-last layout."""
    module = copy.deepcopy(getattr(module, "_orig_mod", module)).eval()
    fold_batchnorms(module)
    if channels_last:
        module.to(memory_format=torch.channels_last)
    return module.requires_grad_(False)


def _fold_sequential(sequence: nn.Sequential) -> None:
    names = list(sequence._modules)
    for first, second in zip(names, names[1:]):
        conv, bn = fold_pair(sequence._modules[first], sequence._modules[second])
        sequence._modules[first], sequence._modules[second] = conv, bn
