"""Generators and discriminators by name. Each constructor takes the data shape and class count
from the trainer and its own keyword parameters from the config section."""
from .base import Discriminator, Generator
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .mlp import MLPDiscriminator, MLPGenerator

GENERATORS = {"mlp": MLPGenerator, "dcgan": DCGANGenerator}
DISCRIMINATORS = {"mlp": MLPDiscriminator, "dcgan": DCGANDiscriminator}

__all__ = ["GENERATORS", "DISCRIMINATORS", "Generator", "Discriminator"]
