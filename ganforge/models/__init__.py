"""Generators and discriminators by name. Each constructor takes the data shape and class count
from the trainer and its own keyword parameters from the config section."""
from .base import Discriminator, Generator
from .biggan import BigGANDiscriminator, BigGANGenerator
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .mlp import MLPDiscriminator, MLPGenerator

GENERATORS = {"mlp": MLPGenerator, "dcgan": DCGANGenerator}
DISCRIMINATORS = {"mlp": MLPDiscriminator, "dcgan": DCGANDiscriminator}
GENERATORS["biggan"], DISCRIMINATORS["biggan"] = BigGANGenerator, BigGANDiscriminator

__all__ = ["GENERATORS", "DISCRIMINATORS", "Generator", "Discriminator"]
