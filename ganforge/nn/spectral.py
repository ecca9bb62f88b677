"""Spectral normalisation for whole networks (Miyato et al. 2018, "Spectral Normalization for GANs").

Wraps torch's own parametrisation: each weight is divided by an estimate of its largest singular
value, refined by one step of power iteration per forward pass in training mode.
"""

import torch
from torch import nn
from torch.nn.utils import parametrize

SPECTRAL_NORM_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_TorchSpectralNorm = getattr(nn.utils.parametrizations, "_SpectralNorm", None)

if _TorchSpectralNorm is not None:
    class _PlannedSpectralNorm(_TorchSpectralNorm):
        """torch's spectral norm for weights on the meta device: no power iterations (there are
        no values to refine; on meta tensors they cost seconds per network)."""

        def _power_method(self, weight_mat: torch.Tensor, n_power_iterations: int) -> None:
            return None


def spectral_norm(layer: nn.Module, n_power_iterations: int = 1, eps: float = 1e-12) -> nn.Module:
    """torch's spectral-norm parametrisation of ``layer.weight``; for a planned model on the meta
    device (ganforge.training.build.planned_components) without the power iterations. The
    parameters and buffers are torch's either way."""
    if not layer.weight.is_meta or _TorchSpectralNorm is None:
        return nn.utils.parametrizations.spectral_norm(layer, n_power_iterations=n_power_iterations, eps=eps)
    dim = 1 if isinstance(layer, _TRANSPOSED) else 0
    parametrize.register_parametrization(
        layer, "weight", _PlannedSpectralNorm(layer.weight, n_power_iterations, dim, eps))
    return layer


def spectral_norm_all(module: nn.Module, n_power_iterations: int = 1, eps: float = 1e-12) -> nn.Module:
    """Spectral-normalise the weight of every Conv2d, ConvTranspose2d, Linear and Embedding in
    ``module`` (itself included), leaving layers whose weight is already parametrised alone.

    Returns ``module``, changed in place. Torch's parametrisation runs 15 power iterations when
    it is registered, so the estimate is good from the first step.
    """
    for layer in list(module.modules()):
        if isinstance(layer, SPECTRAL_NORM_LAYERS) and not parametrize.is_parametrized(layer, "weight"):
            spectral_norm(layer, n_power_iterations=n_power_iterations, eps=eps)
    return module


def weight_matrix(layer: nn.Module) -> torch.Tensor:
    """The layer's effective weight as the matrix spectral norm acts on: [out, -1].

    ConvTranspose weights are stored [in, out, ...], so their output dim is moved first, as torch's
    spectral_norm does. Layers with an ``effective_weight`` (equalized layers) report that.
    """
    weight = getattr(layer, "effective_weight", None)
    if weight is None:
        weight = layer.weight
    if isinstance(layer, _TRANSPOSED):
        weight = weight.transpose(0, 1)
    return weight.reshape(weight.shape[0], -1)


@torch.no_grad()
def largest_singular_value(layer: nn.Module) -> float:
    """Exact largest singular value (by SVD) of the layer's effective weight matrix.

    The layer is read in eval mode so that, for a spectral-normalised layer, reading the weight
    does not advance its power iteration; the layer's mode is restored afterwards. For a
    convolution this is the norm of the reshaped kernel, the quantity spectral norm controls,
    not the operator norm of the convolution itself.
    """
    was_training = layer.training
    layer.eval()
    try:
        matrix = weight_matrix(layer)
    finally:
        layer.train(was_training)
    return torch.linalg.matrix_norm(matrix.double(), ord=2).item()


@torch.no_grad()
def refresh_power_iteration(layer: nn.Module, iterations: int = 15) -> None:
    """Run extra power-iteration steps on a spectral-normalised layer's singular vectors.

    Needed after the original weight was replaced wholesale (e.g. re-initialised), when the stored
    singular vectors no longer match it. Does nothing unless spectral norm is the layer's first
    weight parametrisation (as ``spectral_norm_all`` leaves it).
    """
    if not parametrize.is_parametrized(layer, "weight"):
        return
    spectral = layer.parametrizations.weight[0]
    if not hasattr(spectral, "_u"):  # torch's spectral norm keeps its vectors as _u, _v
        return
    was_training = spectral.training
    spectral.train()
    for _ in range(iterations):
        spectral(layer.parametrizations.weight.original)  # each training-mode call updates _u, _v
    spectral.train(was_training)
