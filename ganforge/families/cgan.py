"""Conditional GAN (Mirza & Osindero 2014): both players see the class label.

The conditioning itself lives in the models, so it composes with any of them: the generator
appends the one-hot label to z (generator.conditioning = concat, as in the paper; multiply
multiplies a learned label embedding into z instead) and the
discriminator either concatenates an image-sized label plane to its input (concat, as commonly
taught) or adds the inner product of a label embedding with its features to the logit (projection,
Miyato & Koyama 2018). The base family already passes real and sampled labels to D and G; this
family only checks that the data is labelled and both models are conditional.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from .base import Family
from .conditional import require_conditional_generator, require_labels


@dataclass
class CGAN(Family):
    """Mirza & Osindero 2014 with any adversarial `loss` (default non-saturating BCE)."""
    loss: str = "nonsaturating"

    def setup(self, G, D, num_classes: int) -> None:
        super().setup(G, D, num_classes)
        require_labels("cgan", num_classes)
        require_conditional_generator("cgan", G)
        if getattr(D, "conditioning", "none") == "none":
            raise ConfigError("family 'cgan' needs a conditional discriminator: set "
                              "discriminator.conditioning=concat or projection")
