import pytest
import torch
from torch import nn

from ganforge.nn import largest_singular_value, orthogonal_init_, orthogonal_regularization, spectral_norm_all

WIDE = [[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]]  # W W^T = [[5, 2], [2, 2]]


def _reg_by_formula(w: torch.Tensor) -> torch.Tensor:
    w = w.reshape(w.shape[0], -1)
    off = (w @ w.T) * (1 - torch.eye(w.shape[0], dtype=w.dtype))
    return off.square().sum(), 4 * off @ w


@pytest.mark.parametrize(
    ("matrix", "value", "gradient"),
    [
        # Off-diagonal entries 2, 2: value 8; gradient 4 [[0,2],[2,0]] W.
        (WIDE, 8.0, [[0.0, 8.0, 8.0], [8.0, 16.0, 0.0]]),
        # Tall (the transpose): off-diagonal 2,2,1,1: value 10; gradient 4 [[0,2,0],[2,0,1],[0,1,0]] W.
        ([[1.0, 0.0], [2.0, 1.0], [0.0, 1.0]], 10.0, [[16.0, 8.0], [8.0, 4.0], [8.0, 4.0]]),
    ],
)
def test_value_and_gradient_on_known_matrix(matrix, value, gradient):
    w = nn.Parameter(torch.tensor(matrix))
    loss = orthogonal_regularization([w], beta=1.0)
    assert loss.item() == pytest.approx(value, rel=1e-7)
    loss.backward()
    torch.testing.assert_close(w.grad, torch.tensor(gradient), rtol=1e-6, atol=1e-6)
    w.grad = None
    (orthogonal_regularization([w], beta=1e-4) * 1e4).backward()
    torch.testing.assert_close(w.grad, torch.tensor(gradient), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(6, 40), (40, 6), (8, 3, 3, 3), (64, 4, 1, 1)])
def test_random_weights_match_formula(shape):
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(shape, dtype=torch.float64))
    orthogonal_regularization([w], beta=1.0).backward()
    value, gradient = _reg_by_formula(w.detach())
    assert orthogonal_regularization([w], beta=1.0).item() == pytest.approx(value.item(), rel=1e-10)
    torch.testing.assert_close(w.grad, gradient.reshape(shape), rtol=1e-10, atol=1e-10)


def test_module_skips_one_dim_parameters_and_sums_weights():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Conv2d(3, 6, 3))
    expected = _reg_by_formula(net[0].weight)[0] + _reg_by_formula(net[2].weight)[0]
    assert orthogonal_regularization(net, beta=0.5).item() == pytest.approx(0.5 * expected.item(), rel=1e-6)


def test_spectral_normalised_layer_contributes_its_original_weight():
    torch.manual_seed(2)
    layer = spectral_norm_all(nn.Linear(6, 4))
    original = layer.parametrizations.weight.original
    loss = orthogonal_regularization(layer, beta=1.0)
    assert loss.item() == pytest.approx(_reg_by_formula(original.detach())[0].item(), rel=1e-6)
    assert loss.item() != pytest.approx(_reg_by_formula(layer.weight.detach())[0].item(), rel=1e-3)
    loss.backward()
    torch.testing.assert_close(original.grad, _reg_by_formula(original.detach())[1])


class _Conditional(nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = nn.Embedding(10, 8)
        self.body = nn.Linear(8, 8)
        self.head = spectral_norm_all(nn.Linear(8, 3))


@pytest.mark.parametrize(
    "exclude",
    [
        lambda net: [net.shared],
        lambda net: [net.shared.weight],
        lambda net: ["shared"],
        lambda net: ["shared.weight"],
    ],
)
def test_exclusion_by_reference_or_name(exclude):
    torch.manual_seed(3)
    net = _Conditional()
    everything = orthogonal_regularization(net, beta=1.0)
    without_shared = orthogonal_regularization(net, beta=1.0, exclude=exclude(net))
    expected = _reg_by_formula(net.body.weight)[0] + _reg_by_formula(net.head.parametrizations.weight.original)[0]
    assert without_shared.item() == pytest.approx(expected.item(), rel=1e-6)
    assert everything.item() > without_shared.item() + 1e-3
    without_shared.backward()
    assert net.shared.weight.grad is None and net.body.weight.grad is not None


def test_exclusion_of_spectral_normalised_weight_by_plain_name():
    net = _Conditional()
    only_shared_and_body = orthogonal_regularization(net, beta=1.0, exclude=["head.weight"])
    both = orthogonal_regularization([net.shared.weight, net.body.weight], beta=1.0)
    assert only_shared_and_body.item() == pytest.approx(both.item(), rel=1e-6)


def test_bad_exclusions_are_errors():
    net = _Conditional()
    with pytest.raises(ValueError, match="matches no parameter"):
        orthogonal_regularization(net, exclude=["shraed"])
    with pytest.raises(TypeError, match="needs a module"):
        orthogonal_regularization(net.parameters(), exclude=["shared"])


def test_orthogonal_init_makes_weights_orthogonal_and_keeps_biases():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(32, 16), nn.Conv2d(8, 4, 3), nn.Embedding(5, 12), nn.BatchNorm1d(3))
    bias = net[0].bias.detach().clone()
    assert orthogonal_regularization(net, beta=1.0).item() > 1e-2
    orthogonal_init_(net)
    assert torch.equal(net[0].bias, bias)
    assert torch.equal(net[3].weight, torch.ones(3))
    # Every weight here is wide, so its rows are orthonormal and the penalty vanishes.
    assert orthogonal_regularization(net, beta=1.0).item() < 1e-10
    # A tall weight gets orthonormal columns instead.
    tall = orthogonal_init_(nn.Linear(16, 32)).weight
    torch.testing.assert_close(tall.T @ tall, torch.eye(16), rtol=0, atol=1e-5)
    w = net[1].weight.reshape(4, -1)
    torch.testing.assert_close(w @ w.T, torch.eye(4), rtol=0, atol=1e-5)


def test_orthogonal_init_of_spectral_normalised_layer_refreshes_power_iteration():
    torch.manual_seed(5)
    layer = spectral_norm_all(nn.Linear(24, 12))
    with torch.no_grad():
        layer.parametrizations.weight.original.mul_(10)
    orthogonal_init_(layer, gain=3.0)
    original = layer.parametrizations.weight.original
    torch.testing.assert_close(original @ original.T, 9 * torch.eye(12), rtol=0, atol=1e-4)
    layer.eval()  # no further iteration: the stored vectors must already fit the new weight
    assert largest_singular_value(layer) == pytest.approx(1.0, abs=1e-5)


def test_orthogonal_init_leaves_a_planned_meta_model_alone():
    with torch.device("meta"):
        layer = spectral_norm_all(nn.Linear(4, 6))
    orthogonal_init_(layer)  # nothing to set on meta tensors; must not fail
    assert layer.parametrizations.weight.original.is_meta
