import math

import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from ganforge.nn import EqualizedConv2d, EqualizedLinear


def test_conv_raw_weights_are_standard_normal_and_biases_zero():
    torch.manual_seed(0)
    layer = EqualizedConv2d(256, 256, 3)
    raw = layer.weight.detach().flatten().double()
    n = raw.numel()
    assert abs(raw.mean().item()) < 5 / math.sqrt(n)
    assert raw.std().item() == pytest.approx(1.0, rel=5e-3)  # SE of std ~ 1/sqrt(2n) = 1e-3
    assert stats.kstest(raw[:200_000].numpy(), "norm").pvalue > 1e-3
    assert torch.equal(layer.bias, torch.zeros(256))


@pytest.mark.parametrize("gain", [math.sqrt(2), 1.0])
def test_conv_effective_weight_std_is_gain_over_sqrt_fan_in(gain):
    torch.manual_seed(1)
    layer = EqualizedConv2d(128, 256, 3, gain=gain)
    expected = gain / math.sqrt(128 * 3 * 3)
    assert layer.effective_weight.std().item() == pytest.approx(expected, rel=0.01)
    # The scaling is applied at run time, exactly, to whatever the stored weight is now.
    with torch.no_grad():
        layer.weight.mul_(3.0)
    torch.testing.assert_close(layer.effective_weight, layer.weight * expected, rtol=0, atol=0)


def test_linear_effective_weight_std_is_gain_over_sqrt_fan_in():
    torch.manual_seed(2)
    layer = EqualizedLinear(1024, 512)
    expected = math.sqrt(2) / math.sqrt(1024)
    assert layer.effective_weight.std().item() == pytest.approx(expected, rel=0.01)
    assert layer.weight.std().item() == pytest.approx(1.0, rel=0.01)
    assert torch.equal(layer.bias, torch.zeros(512))


def test_forward_uses_effective_weight_and_keeps_size_with_default_padding():
    torch.manual_seed(3)
    conv = EqualizedConv2d(4, 6, 3, gain=1.0)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 4, 8, 8)
    out = conv(x)
    assert out.shape == (2, 6, 8, 8)
    torch.testing.assert_close(out, F.conv2d(x, conv.weight / math.sqrt(36), conv.bias, padding=1))
    assert EqualizedConv2d(4, 6, 4, padding=0)(x).shape == (2, 6, 5, 5)

    linear = EqualizedLinear(5, 3, gain=2.0)
    z = torch.randn(7, 5)
    torch.testing.assert_close(linear(z), z @ (linear.weight * 2.0 / math.sqrt(5)).T)


def test_unit_variance_input_gives_output_variance_gain_squared():
    # The point of the scaling: activations keep a fixed scale at every fan-in (He et al. 2015).
    torch.manual_seed(4)
    layer = EqualizedLinear(512, 512, gain=1.0, bias=False)
    with torch.no_grad():
        out = layer(torch.randn(4096, 512))
    assert out.var().item() == pytest.approx(1.0, rel=0.05)
