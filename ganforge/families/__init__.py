"""GAN families by name: each says how a D step and a G step are computed."""
from .base import Family, Latent
from .acgan import ACGAN
from .began import BEGAN
from .cgan import CGAN
from .infogan import InfoGAN
from .sgan import SGAN
from .wgan import WGAN, WGANGP
from .biggan import BigGAN
from .gan import GAN
from .pggan import PGGAN

FAMILIES: dict[str, type[Family]] = {"gan": GAN}
FAMILIES["biggan"] = BigGAN
FAMILIES.update({"wgan": WGAN, "wgan-gp": WGANGP, "cgan": CGAN, "acgan": ACGAN,
                 "infogan": InfoGAN, "sgan": SGAN, "began": BEGAN})
FAMILIES["pggan"] = PGGAN

__all__ = ["FAMILIES", "Family", "Latent"]
