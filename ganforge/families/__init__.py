"""GAN families by name: each says how a D step and a G step are computed."""
from .base import Family, Latent
from .biggan import BigGAN
from .gan import GAN

FAMILIES: dict[str, type[Family]] = {"gan": GAN}
FAMILIES["biggan"] = BigGAN

__all__ = ["FAMILIES", "Family", "Latent"]
