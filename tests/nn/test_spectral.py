import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from ganforge.nn import largest_singular_value, spectral_norm_all, weight_matrix


def _set_spectrum(layer: nn.Module, singular_values: list[float]) -> None:
    """Give the layer's original weight a known spectrum (as the [out, -1] matrix)."""
    original = layer.parametrizations.weight.original
    rows, cols = weight_matrix(layer).shape
    u, _ = torch.linalg.qr(torch.randn(rows, rows))
    v, _ = torch.linalg.qr(torch.randn(cols, cols))
    s = torch.zeros(rows, cols)
    s[range(len(singular_values)), range(len(singular_values))] = torch.tensor(singular_values)
    matrix = u @ s @ v.T
    if isinstance(layer, nn.ConvTranspose2d):  # stored [in, out, k, k]
        in_ch, out_ch, kh, kw = original.shape
        matrix = matrix.reshape(out_ch, in_ch, kh, kw).transpose(0, 1)
    with torch.no_grad():
        original.copy_(matrix.reshape(original.shape))


def _net() -> nn.Sequential:
    return nn.Sequential(
        nn.Embedding(10, 8), nn.Linear(8, 16), nn.Conv2d(4, 8, 3), nn.ConvTranspose2d(8, 4, 4), nn.BatchNorm2d(4)
    )


def test_spectral_norm_all_wraps_every_weight_layer_once():
    net = spectral_norm_all(_net())
    for layer in net[:4]:
        assert parametrize.is_parametrized(layer, "weight")
    assert not parametrize.is_parametrized(net[4])
    spectral_norm_all(net)  # already parametrised layers are left alone
    assert all(len(layer.parametrizations.weight) == 1 for layer in net[:4])


@pytest.mark.parametrize(
    "layer",
    [lambda: nn.Linear(24, 16), lambda: nn.Conv2d(6, 8, 3, padding=1), lambda: nn.ConvTranspose2d(8, 6, 4, 2, 1)],
)
def test_power_iteration_brings_largest_singular_value_to_one(layer):
    torch.manual_seed(0)
    layer = spectral_norm_all(layer())
    _set_spectrum(layer, [4.0, 2.0, 1.5, 0.5])
    # The stored singular vectors belong to the old weight: the estimate is off until it iterates.
    assert abs(largest_singular_value(layer) - 1.0) > 1e-2
    x = torch.randn(2, 24) if isinstance(layer, nn.Linear) else torch.randn(2, layer.in_channels, 5, 5)
    layer.train()
    for _ in range(15):
        layer(x)
    # Error of the estimate shrinks like (2/4)^(2 * steps); the SVD check is independent of it.
    assert largest_singular_value(layer) == pytest.approx(1.0, abs=1e-6)


def test_largest_singular_value_does_not_advance_power_iteration():
    torch.manual_seed(1)
    layer = spectral_norm_all(nn.Linear(8, 8))
    _set_spectrum(layer, [3.0, 1.0])
    before = largest_singular_value(layer)
    assert largest_singular_value(layer) == before
    assert layer.training


def test_largest_singular_value_of_plain_and_equalized_layers():
    from ganforge.nn import EqualizedLinear

    linear = nn.Linear(5, 3)
    expected = torch.linalg.svdvals(linear.weight.detach().double())[0].item()
    assert largest_singular_value(linear) == pytest.approx(expected, rel=1e-12)
    equalized = EqualizedLinear(5, 3, gain=1.0)
    expected = torch.linalg.svdvals(equalized.weight.detach().double() / 5**0.5)[0].item()
    assert largest_singular_value(equalized) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("make", [lambda: nn.Conv2d(3, 8, 3), lambda: nn.ConvTranspose2d(8, 4, 4),
                                  lambda: nn.Linear(5, 7), lambda: nn.Embedding(10, 6)])
def test_a_planned_meta_layer_gets_the_same_parameters_and_buffers_as_a_real_one(make):
    """Planned models skip the power iterations on meta tensors; their sizes must not change."""
    real = spectral_norm_all(make())
    with torch.device("meta"):
        planned = spectral_norm_all(make())
    for named in ("named_parameters", "named_buffers"):
        shapes = {n: t.shape for n, t in getattr(real, named)()}
        assert {n: t.shape for n, t in getattr(planned, named)()} == shapes
    assert all(t.is_meta for t in planned.parameters())
    x = torch.ones(2, 5) if isinstance(real, nn.Linear) else None
    if x is not None:  # the planned layer still runs (shapes only)
        assert planned(x.to("meta")).shape == real(x).shape
