"""Generators and discriminators by name. Each constructor takes the data shape and class count
from the trainer and its own keyword parameters from the config section."""
from .base import Discriminator, Generator
from .began import BEGANDiscriminator, BEGANGenerator
from .biggan import BigGANDiscriminator, BigGANGenerator
from .biggan_deep import BigGANDeepDiscriminator, BigGANDeepGenerator
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .mlp import MLPDiscriminator, MLPGenerator
from .pggan import PGGANDiscriminator, PGGANGenerator

GENERATORS = {"mlp": MLPGenerator, "dcgan": DCGANGenerator}
DISCRIMINATORS = {"mlp": MLPDiscriminator, "dcgan": DCGANDiscriminator}
GENERATORS["biggan"], DISCRIMINATORS["biggan"] = BigGANGenerator, BigGANDiscriminator
GENERATORS["biggan-deep"], DISCRIMINATORS["biggan-deep"] = BigGANDeepGenerator, BigGANDeepDiscriminator
GENERATORS["pggan"], DISCRIMINATORS["pggan"] = PGGANGenerator, PGGANDiscriminator
GENERATORS["began"], DISCRIMINATORS["began"] = BEGANGenerator, BEGANDiscriminator

__all__ = ["GENERATORS", "DISCRIMINATORS", "Generator", "Discriminator"]
