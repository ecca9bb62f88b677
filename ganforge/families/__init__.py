"""GAN families by name: each says how a D step and a G step are computed."""
from .base import Family, Latent
from .gan import GAN

FAMILIES: dict[str, type[Family]] = {"gan": GAN}

__all__ = ["FAMILIES", "Family", "Latent"]
