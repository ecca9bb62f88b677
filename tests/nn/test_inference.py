"""Networks prepared for evaluation: BatchNorm folded into convolutions, channels-last."""
import pytest
import torch
from torch import nn

from ganforge.metrics.inception import InceptionA
from ganforge.models.dcgan import DCGANGenerator
from ganforge.nn.inference import fold_batchnorms, inference_copy


def _trained_looking_batchnorms(module: nn.Module, seed: int = 0) -> nn.Module:
    """BatchNorm statistics and affine parameters away from their initial 0/1."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return module


@torch.no_grad()
def test_generator_copy_computes_the_same_images_without_batchnorm():
    torch.manual_seed(0)
    G = _trained_looking_batchnorms(DCGANGenerator((1, 32, 32), z_dim=16, width=8))
    z = torch.randn(8, 16)
    expected = G.eval()(z)
    G.train()
    fast = inference_copy(G)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert G.training and any(isinstance(m, nn.BatchNorm2d) for m in G.modules())  # the original is untouched
    torch.testing.assert_close(fast(z), expected, rtol=0, atol=1e-5)
    # A folded transposed convolution, not a plain one with the BatchNorm dropped.
    assert fast.net[0].bias is not None and not torch.equal(fast.net[0].weight, G.net[0].weight)


@torch.no_grad()
def test_inception_block_folds_its_conv_bn_pairs():
    torch.manual_seed(1)
    block = _trained_looking_batchnorms(InceptionA(16, pool_features=8), seed=1).eval()
    x = torch.randn(2, 16, 9, 9)
    expected = block(x)
    fast = inference_copy(block)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    torch.testing.assert_close(fast(x.contiguous(memory_format=torch.channels_last)), expected,
                               rtol=1e-5, atol=1e-5)


def test_folding_needs_eval_mode():
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorms(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))
