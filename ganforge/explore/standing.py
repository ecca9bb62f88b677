"""BigGAN's standing statistics: G's BatchNorm statistics recomputed for the weights sampled."""
from __future__ import annotations

import torch
from torch import nn

from ..nn.latent import truncated_normal


def _batchnorms(G: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def standing_stats_(G: nn.Module, family, n_batches: int = 16, batch_size: int = 64,
                    seed: int = 0, truncation: float | None = None) -> nn.Module:
    """BigGAN's "standing statistics" (Brock et al. 2019, appendix): replace every BatchNorm's
    running mean and variance in G by their average over `n_batches` fresh batches of latents
    (drawn as the family draws them, truncated when `truncation` is given so the statistics
    match the samples they serve), instead of the exponential averages kept during training,
    which belong to older weights, not to the EMA weights being sampled.

    Only the BatchNorms run in training mode (cumulative averaging, momentum None); everything
    else stays in eval mode, so spectral-norm estimates are not advanced. G is left in eval mode
    with its BatchNorm momenta restored. Returns G.
    """
    if n_batches < 1 or batch_size < 2:
        raise ValueError(f"standing statistics need n_batches >= 1 and batch_size >= 2, "
                         f"got {n_batches}, {batch_size}")
    norms = _batchnorms(G)
    if not norms:
        return G.eval()
    device = next(G.parameters()).device
    momenta = [bn.momentum for bn in norms]
    gen = torch.Generator(device).manual_seed(seed)
    G.eval()
    try:
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the batches below
            bn.train()
        for _ in range(n_batches):
            latent = family.sample_latent(batch_size, getattr(G, "noise_dim", G.z_dim), device, gen)
            if truncation is not None and truncation > 0:
                latent.z = truncated_normal(latent.z.shape, truncation, generator=gen, device=device)
            family.generate(G, latent)
    finally:
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
        G.eval()
    return G
