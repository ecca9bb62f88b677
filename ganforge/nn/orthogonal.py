"""Orthogonal regularization and initialization as in BigGAN (Brock et al. 2019, sec. 3.1)."""

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.utils import parametrize

from ganforge.nn.spectral import refresh_power_iteration

ORTHOGONAL_INIT_LAYERS = (
    nn.Conv1d, nn.Conv2d, nn.Conv3d,
    nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
    nn.Linear, nn.Embedding,
)

Exclusion = nn.Parameter | torch.Tensor | nn.Module | str


def _plain_name(name: str) -> str:
    # "conv.parametrizations.weight.original" is what users know as "conv.weight".
    return name.replace("parametrizations.", "").replace(".original", "")


def _excluded_ids(named: list[tuple[str, torch.Tensor]], exclude: Iterable[Exclusion]) -> set[int]:
    """Ids of the parameters named or referenced by ``exclude``; an unmatched name is an error."""
    excluded = set()
    for item in exclude:
        if isinstance(item, nn.Module):
            excluded.update(id(p) for p in item.parameters())
        elif isinstance(item, torch.Tensor):
            excluded.add(id(item))
        elif isinstance(item, str):
            matched = [
                id(p) for name, p in named
                if _plain_name(name) == item or _plain_name(name).startswith(item + ".")
            ]
            if not matched:
                raise ValueError(f"exclude names {item!r}, which matches no parameter")
            excluded.update(matched)
        else:
            raise TypeError(f"exclude takes parameters, modules or names, got {type(item).__name__}")
    return excluded


def _off_diagonal_gram_energy(weight: torch.Tensor) -> torch.Tensor:
    """||W W^T (.) (1 - I)||_F^2 for W reshaped to [shape[0], -1]."""
    w = weight.reshape(weight.shape[0], -1)
    rows, cols = w.shape
    if rows <= cols:
        gram = w @ w.T
        return (gram - torch.diag_embed(gram.diagonal())).square().sum()
    # Tall W (e.g. BigGAN's first linear, 24k rows): ||W W^T||_F = ||W^T W||_F, and the diagonal
    # of W W^T holds the squared row norms, so the small cols x cols Gram suffices. Float64
    # because the subtraction cancels when W is near orthogonal.
    w64 = w.double()
    total = (w64.T @ w64).square().sum()
    diagonal = w64.square().sum(dim=1).square().sum()
    return (total - diagonal).to(weight.dtype)


def orthogonal_regularization(
    parameters_or_module: nn.Module | Iterable[torch.Tensor],
    beta: float = 1e-4,
    exclude: Iterable[Exclusion] = (),
) -> torch.Tensor:
    """BigGAN's orthogonal regularization: ``beta * sum_W ||W W^T (.) (1 - I)||_F^2``.

    Unlike the full orthogonality penalty it leaves the norms of W's rows free and only pushes
    them towards mutual orthogonality, which is what makes the truncation trick work (sec. 3.1).
    W is every parameter with two or more dims, reshaped to [shape[0], -1]; 1-D and 0-D
    parameters (biases, gains) are skipped. Spectral-normalised layers contribute their original,
    unnormalised weight: that is the parameter a module yields.

    ``exclude`` holds parameters or modules (by reference) or parameter names (a name also covers
    everything under it, e.g. ``"shared"``; spectral-normalised weights answer to their plain name
    such as ``"conv.weight"``). Names need a module; a name that matches nothing is an error.
    Returns a scalar loss to add to the generator's loss; its gradient is
    ``4 beta (W W^T (.) (1 - I)) W`` per weight.
    """
    exclude = list(exclude)
    if isinstance(parameters_or_module, nn.Module):
        named = list(parameters_or_module.named_parameters())
    else:
        if any(isinstance(item, str) for item in exclude):
            raise TypeError("excluding by name needs a module, not a list of parameters")
        named = [("", p) for p in parameters_or_module]
    excluded = _excluded_ids(named, exclude)
    terms = [_off_diagonal_gram_energy(p) for _, p in named if p.ndim >= 2 and id(p) not in excluded]
    if not terms:
        return torch.zeros(())
    return beta * sum(terms)


@torch.no_grad()
def orthogonal_init_(module: nn.Module, gain: float = 1.0) -> nn.Module:
    """Orthogonal initialisation (Saxe et al. 2014), as BigGAN uses, of every convolution, linear
    and embedding weight in ``module``; biases are left as they are. Returns ``module``.

    For spectral-normalised layers the original weight is initialised and the power iteration
    is rerun so the singular-vector estimates match the new weight.
    """
    for layer in module.modules():
        if not isinstance(layer, ORTHOGONAL_INIT_LAYERS):
            continue
        parametrized = parametrize.is_parametrized(layer, "weight")
        weight = layer.parametrizations.weight.original if parametrized else layer.weight
        if weight.is_meta:
            # A planned model (ganforge.training.build.planned_components) has no values to set,
            # and power iterations on meta tensors cost seconds per network for nothing.
            continue
        nn.init.orthogonal_(weight, gain=gain)
        if parametrized:
            refresh_power_iteration(layer)
    return module
