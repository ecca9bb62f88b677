"""The discriminator options any family can use, from the config to a wrapped D:
train.augment / train.ada_target / train.ada_kimg (DiffAugment, ADA) and discriminator.pack
(PacGAN); discriminator.mbstd_group is a model parameter (dcgan, mlp, pggan).

Illegal combinations are one-line ConfigErrors raised while the run is built, before training."""
from __future__ import annotations

import torch

from ..collectives import mean_over_processes
from ..config import WRAPPER_KEYS, Config
from ..errors import ConfigError
from ..models.discriminator_input import DiscriminatorInput, packed_shape
from ..nn.augment import DiffAugment, parse_policy

# Losses whose logit is positive for "real": ADA's r_t = E[sign(D(x_real))] means something.
SIGNED_LOSSES = ("nonsaturating", "saturating", "hinge")


def model_section(section: dict) -> dict:
    """The [discriminator] section as the model's constructor sees it."""
    return {k: v for k, v in section.items() if k not in WRAPPER_KEYS["discriminator"]}


def pack_factor(cfg: Config) -> int:
    pack = cfg.discriminator.get("pack", WRAPPER_KEYS["discriminator"]["pack"])
    if isinstance(pack, bool) or not isinstance(pack, int) or pack < 1:
        raise ConfigError(f"discriminator.pack must be >= 1 (1: off), got {pack}")
    return pack


def discriminator_shape(cfg: Config, data_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The input shape D is built for: m samples concatenated along channels when packing."""
    return packed_shape(data_shape, pack_factor(cfg))


def wrap_discriminator(cfg: Config, D, family, data_shape: tuple[int, ...]):
    """(D, augment): D wrapped when augmentation or packing is on (else D itself), and the
    DiffAugment module whose p ADA adapts (None when augmentation is off). Call after
    family.setup, which may add heads to D."""
    t, pack = cfg.train, pack_factor(cfg)
    augment = None
    if parse_policy(t.augment):
        if len(data_shape) != 3:
            raise ConfigError("train.augment transforms images; this data is points: set train.augment=\"\"")
        augment = DiffAugment(t.augment, t.ada_target, t.ada_kimg)
    if t.ada_target > 0 and family.loss not in SIGNED_LOSSES:
        raise ConfigError(f"train.ada_target needs a loss whose logit sign says real or fake "
                          f"({', '.join(SIGNED_LOSSES)}); family.loss is '{family.loss}'")
    if pack > 1:
        _check_packable(cfg, D, family, pack)
    if augment is None and pack == 1:
        return D, None
    return DiscriminatorInput(D, augment, pack), augment


def batch_sizes(cfg: Config, family) -> list[int]:
    """Every batch size a run trains at: train.batch_size and a family's per-stage sizes (PGGAN)."""
    return [cfg.train.batch_size, *getattr(family, "batch_sizes", ())]


def _check_packable(cfg: Config, D, family, pack: int) -> None:
    if getattr(D, "conditioning", "none") != "none":
        raise ConfigError("discriminator.pack > 1 packs unlabelled samples: set "
                          "discriminator.conditioning=none")
    if len(getattr(D, "heads", {})):
        raise ConfigError(f"discriminator.pack > 1 gives one score per set of {pack} samples; family "
                          f"'{cfg.family['name']}' needs per-sample heads ({', '.join(D.heads)})")
    bad = [b for b in batch_sizes(cfg, family) if b % pack]
    if bad:
        raise ConfigError(f"discriminator.pack={pack} needs batch sizes divisible by {pack}, got {bad[0]}")


def adapt_augmentation(augment: DiffAugment | None, d_stats: dict, images: int) -> dict:
    """ADA after one discriminator minibatch: feed r_t's term to the controller (averaged over the
    processes, so every rank moves p alike) and log p as `aug_p`. No-op without ADA."""
    if augment is None or not augment.adaptive:
        return d_stats
    augment.observe(mean_over_processes(d_stats["d_real_sign"]), images)
    return {**d_stats, "aug_p": augment.p.detach().clone()}


def attach_noise(augment: DiffAugment | None, noise: torch.Generator) -> None:
    """Augmentations draw from the trainer's noise stream, which checkpoints save and restore."""
    if augment is not None:
        augment.generator = noise
