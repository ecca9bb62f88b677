"""Adversarial losses as (discriminator loss, generator loss) pairs on raw D outputs (logits).

Every loss is a mean over the batch, never a sum, so learning rates do not depend on batch size.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def bce_d(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """-log D(x) - log(1 - D(G(z))) with D = sigmoid(logit), in the numerically stable form."""
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def saturating_g(d_fake: Tensor) -> Tensor:
    """Goodfellow et al. 2014 minimax: G minimises log(1 - D(G(z)))."""
    return -F.softplus(d_fake).mean()


def nonsaturating_g(d_fake: Tensor) -> Tensor:
    """Goodfellow et al. 2014 practical variant: G maximises log D(G(z))."""
    return F.softplus(-d_fake).mean()


def wasserstein_d(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Arjovsky et al. 2017: the critic maximises E[D(x)] - E[D(G(z))]."""
    return d_fake.mean() - d_real.mean()


def wasserstein_g(d_fake: Tensor) -> Tensor:
    return -d_fake.mean()


def hinge_d(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Lim & Ye 2017; Miyato et al. 2018: margin loss for D, linear for G."""
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


def least_squares_d(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Mao et al. 2017 (LSGAN, a=0, b=c=1)."""
    return 0.5 * ((d_real - 1) ** 2).mean() + 0.5 * (d_fake ** 2).mean()


def least_squares_g(d_fake: Tensor) -> Tensor:
    return 0.5 * ((d_fake - 1) ** 2).mean()


@dataclass(frozen=True)
class AdversarialLoss:
    d_of_logits: Callable[[Tensor, Tensor], Tensor]
    g_of_logits: Callable[[Tensor], Tensor]
    probabilistic: bool  # D's output is a logit of P(real): report sigmoid(D) as D(x)

    # Logits come out of bf16/fp16 autocast in half precision; the loss (softplus, squares, the
    # batch mean) is computed in fp32 so small differences between D outputs are not rounded away.
    def d(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return self.d_of_logits(d_real.float(), d_fake.float())

    def g(self, d_fake: Tensor) -> Tensor:
        return self.g_of_logits(d_fake.float())


LOSSES: dict[str, AdversarialLoss] = {
    "nonsaturating": AdversarialLoss(bce_d, nonsaturating_g, True),
    "saturating": AdversarialLoss(bce_d, saturating_g, True),
    "wasserstein": AdversarialLoss(wasserstein_d, wasserstein_g, False),
    "hinge": AdversarialLoss(hinge_d, wasserstein_g, False),
    "least-squares": AdversarialLoss(least_squares_d, least_squares_g, False),
}
