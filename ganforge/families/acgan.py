"""Auxiliary classifier GAN (Odena et al. 2017): a class-conditional generator and a discriminator
whose shared body feeds two heads, real/fake and the class. D maximises the log-likelihood of the
right source and the right class on real and generated images; G maximises the class
log-likelihood of its own samples while fooling the real/fake head."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import Family, Latent, Stats
from .conditional import (require_conditional_generator, require_labels,
                          require_unconditional_discriminator)

Tensor = torch.Tensor


def logit_and_head(D, x: Tensor, head: str, labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """D's real/fake logit and one attached head's output, sharing one pass through D's body."""
    feats = D.features(x, labels)
    return D.logit(feats, labels), D.heads[head](feats)


@dataclass
class ACGAN(Family):
    """Odena et al. 2017. `aux_weight` scales the class cross-entropy (1 in the paper) against the
    adversarial `loss` (any of ganforge.objectives.LOSSES)."""
    loss: str = "nonsaturating"
    aux_weight: float = 1.0
    aux_on_fakes: bool = True  # the paper trains D's class head on generated images too

    def setup(self, G, D, num_classes: int) -> None:
        super().setup(G, D, num_classes)
        require_labels("acgan", num_classes)
        require_conditional_generator("acgan", G)
        require_unconditional_discriminator("acgan", D)
        D.add_head("aux", num_classes)

    def d_loss(self, D, reals: Tensor, real_labels: Tensor | None, fakes: Tensor, latent: Latent,
               noise: torch.Generator) -> tuple[Tensor, Stats]:
        d_real, cls_real = logit_and_head(D, reals, "aux")
        d_fake, cls_fake = logit_and_head(D, fakes, "aux")
        adversarial = self.objective.d(d_real, d_fake)
        aux = F.cross_entropy(cls_real.float(), real_labels)
        if self.aux_on_fakes:
            aux = aux + F.cross_entropy(cls_fake.float(), latent.labels)
        loss = adversarial + self.aux_weight * aux
        accuracy = (cls_real.argmax(1) == real_labels).float().mean()
        return loss, {"d_loss": loss.detach(), "d_adv": adversarial.detach(),
                      "d_aux": aux.detach(), "cls_acc": accuracy.detach(),
                      **self.d_outputs(d_real, d_fake)}

    def g_loss(self, D, fakes: Tensor, latent: Latent) -> tuple[Tensor, Stats]:
        d_fake, cls_fake = logit_and_head(D, fakes, "aux")
        adversarial = self.objective.g(d_fake)
        aux = F.cross_entropy(cls_fake.float(), latent.labels)
        loss = adversarial + self.aux_weight * aux
        return loss, {"g_loss": loss.detach(), "g_adv": adversarial.detach(), "g_aux": aux.detach()}
