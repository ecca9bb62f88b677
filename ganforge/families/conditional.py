"""What the class-conditional families share: checks that the data and models carry labels."""
from __future__ import annotations

from ..errors import ConfigError


def require_labels(family: str, num_classes: int) -> None:
    if num_classes < 2:
        raise ConfigError(f"family '{family}' needs labelled data with at least 2 classes (e.g. "
                          "data.source=mnist, or a folder with one sub-folder per class); "
                          f"this data has {num_classes}")


def require_conditional_generator(family: str, G) -> None:
    if getattr(G, "conditioning", "none") == "none":
        raise ConfigError(f"family '{family}' needs a conditional generator: "
                          "set generator.conditioning=concat")


def require_unconditional_discriminator(family: str, D) -> None:
    if getattr(D, "conditioning", "none") != "none":
        raise ConfigError(f"family '{family}' classifies with a head on D's features; its input "
                          "must not be conditioned: set discriminator.conditioning=none")
