"""Build a run's family, generator and discriminator from its config and its data's shape."""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch

from ..config import Config, validate_component
from ..families import FAMILIES, Family
from ..models import DISCRIMINATORS, GENERATORS, Discriminator, Generator
from ..nn.augment import DiffAugment
from .discriminator_input import WRAPPER_KEYS, discriminator_shape, model_section, wrap_discriminator


@dataclass
class Components:
    family: Family
    G: Generator
    D: Discriminator  # wrapped in a DiscriminatorInput when augmenting or packing
    augment: DiffAugment | None = None


def validated_sections(cfg: Config) -> tuple[dict, dict, dict]:
    """Typed parameters of the family, generator and discriminator sections (errors if unknown)."""
    family = validate_component("family", cfg.family, FAMILIES)
    gen = validate_component("generator", cfg.generator, GENERATORS)
    disc = model_section(validate_component("discriminator", cfg.discriminator, DISCRIMINATORS,
                                            extra=WRAPPER_KEYS))
    return family, gen, disc


def build_components(cfg: Config, data_shape: tuple[int, ...], num_classes: int,
                     seed: int) -> Components:
    family_args, g_args, d_args = validated_sections(cfg)
    family = FAMILIES[family_args.pop("name")](**family_args)
    torch.manual_seed(seed)  # weight initialisation is part of the seeded run
    g_cls = GENERATORS[g_args.pop("name")]
    z_dim = g_args.get("z_dim", _default(g_cls, "z_dim"))
    if z_dim is not None:
        # Families that append codes to z (InfoGAN) widen G's input.
        g_args["z_dim"] = family.generator_input_dim(z_dim)
    G = g_cls(data_shape=data_shape, num_classes=num_classes, **g_args)
    G.noise_dim = z_dim  # the part of G's input drawn as N(0, I)
    D = DISCRIMINATORS[d_args.pop("name")](data_shape=discriminator_shape(cfg, data_shape),
                                           num_classes=num_classes, **d_args)
    family.setup(G, D, num_classes)
    D, augment = wrap_discriminator(cfg, D, family, data_shape)
    return Components(family, G, D, augment)


def _default(cls, name: str):
    p = inspect.signature(cls).parameters.get(name)
    return None if p is None or p.default is inspect.Parameter.empty else p.default
