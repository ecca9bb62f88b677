import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ganforge.nn.upsample_conv import foldable, upsample_conv3x3


def _reference(x, conv):
    return conv(F.interpolate(x, scale_factor=2, mode="nearest"))


@pytest.mark.parametrize("c_in, c_out, bias, shape", [(8, 1, True, (5, 7)), (3, 6, False, (4, 4)),
                                                      (16, 4, True, (1, 1))])
def test_folded_upsample_conv_matches_upsampling_then_convolving(c_in, c_out, bias, shape):
    """Same output and the same gradients for the input, weight and bias, on non-square maps and
    at the borders (a 1x1 map is all border)."""
    torch.manual_seed(0)
    conv = nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias).double()
    x = torch.randn(2, c_in, *shape, dtype=torch.float64, requires_grad=True)
    expected, folded = _reference(x, conv), upsample_conv3x3(x, conv)
    assert folded.shape == (2, c_out, 2 * shape[0], 2 * shape[1])
    torch.testing.assert_close(folded, expected)
    grad = torch.randn_like(expected)
    wrt = [x, *conv.parameters()]
    for a, b in zip(torch.autograd.grad(folded, wrt, grad), torch.autograd.grad(expected, wrt, grad)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("conv", [nn.Conv2d(4, 2, 5, 1, 2), nn.Conv2d(4, 2, 3, 2, 1),
                                  nn.Conv2d(4, 2, 3, 1, 1, padding_mode="reflect"),
                                  nn.Conv2d(4, 4, 3, 1, 1, groups=2)])
def test_other_convolutions_are_not_folded_and_still_upsample_first(conv):
    assert not foldable(conv)
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(upsample_conv3x3(x, conv), _reference(x, conv))
