"""The original GAN (Goodfellow et al. 2014) and DCGAN (Radford et al. 2015) share this family:
binary cross-entropy with the saturating or the non-saturating generator loss."""
from dataclasses import dataclass

from .base import Family


@dataclass
class GAN(Family):
    """Goodfellow et al. 2014. `loss` = nonsaturating (default, the paper's practical choice)
    or saturating (the minimax objective); any other adversarial loss also works here."""
    loss: str = "nonsaturating"
