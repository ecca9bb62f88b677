"""BigGAN (Brock et al. 2019): hinge loss, several D steps per G step, and orthogonal
regularization of the generator ("standing statistics" for its BatchNorms at sampling time live in
`ganforge.explore.standing`).

The architecture lives in `ganforge.models.biggan`; the generator EMA and gradient accumulation
are the trainer's (`train.ema`, `train.accumulate`); the truncation trick is applied when
sampling (`ganforge sample --truncation`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..nn import orthogonal_regularization
from .base import Family, Latent, Stats

Tensor = torch.Tensor


@dataclass
class BigGAN(Family):
    """Brock et al. 2019. `d_steps` 2 with lrs G 5e-5 / D 2e-4 is the paper's ImageNet setting.
    `ortho_beta` weighs the orthogonal regularization beta * ||W W^T (.) (1 - I)||_F^2, summed
    over G's weights with two or more dims except its class embeddings; the paper applies it to G
    only, and so do we. 0 turns it off. The G loss returned is the hinge loss plus the
    penalty; the log shows them apart as `g_loss` (adversarial) and `g_ortho`."""
    loss: str = "hinge"
    d_steps: int = 2
    ortho_beta: float = 1e-4

    def __post_init__(self):
        super().__post_init__()
        if self.ortho_beta < 0:
            raise ConfigError(f"family.ortho_beta must be >= 0, got {self.ortho_beta}")
        self._generator: nn.Module | None = None
        self._excluded: list[nn.Module] = []

    def setup(self, G, D, num_classes: int) -> None:
        super().setup(G, D, num_classes)
        self._generator = G
        # Class embeddings are lookup tables, not maps of features: orthogonality means nothing there.
        self._excluded = [m for m in G.modules() if isinstance(m, nn.Embedding)]

    def orthogonal_penalty(self) -> Tensor:
        """beta * sum_W ||W W^T (.) (1 - I)||_F^2 over G (computed in fp32, outside autocast)."""
        G = self._generator
        device = next(G.parameters()).device
        with torch.autocast(device.type, enabled=False):
            return orthogonal_regularization(G, self.ortho_beta, exclude=self._excluded).to(device)

    def g_loss(self, D, fakes: Tensor, latent: Latent) -> tuple[Tensor, Stats]:
        adversarial = self.objective.g(D(fakes, latent.labels))
        stats = {"g_loss": adversarial.detach()}
        if self.ortho_beta == 0 or self._generator is None:
            return adversarial, stats
        penalty = self.orthogonal_penalty()
        stats["g_ortho"] = penalty.detach()
        return adversarial + penalty, stats
