"""Build a run's family, generator and discriminator from its config and its data's shape."""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch

from ..config import Config, validate_component
from ..errors import CheckpointError, ConfigError
from ..limits import check_allocation
from ..families import FAMILIES, Family
from ..models import DISCRIMINATORS, GENERATORS, Discriminator, Generator
from ..nn.augment import DiffAugment
from .discriminator_input import batch_sizes, discriminator_shape, model_section, pack_factor, wrap_discriminator


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
    disc = model_section(validate_component("discriminator", cfg.discriminator, DISCRIMINATORS))
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


# ---------------------------------------------------------------- sizes before allocation

def planned_components(cfg: Config, data_shape: tuple[int, ...], num_classes: int) -> Components | None:
    """The run's family and models built on the meta device: every shape and parameter count,
    no memory, no change to the global random state. Errors of the config (sizes the models
    refuse) surface here too, before anything large is allocated. None for a model whose
    constructor reads tensor values (impossible on the meta device): it is then built without
    the checks (a test builds every registered model on the meta device)."""
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        try:
            return build_components(cfg, data_shape, num_classes, seed=0)
        except (RuntimeError, NotImplementedError) as e:
            if "meta" not in str(e):
                raise
            return None


def _bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


def check_memory(parts: Components | None, cfg: Config, data_shape: tuple[int, ...], training: bool) -> None:
    """Refuse up front (one line) models that do not fit the memory budget (ganforge.limits).

    Training counts G and D with their gradients and two Adam moments, G's EMA copy and one batch
    of real and generated inputs; activations come on top and are not estimated. Sampling counts
    G twice (the loaded weights and the model)."""
    if parts is None:
        return
    g, d = _bytes(parts.G), _bytes(parts.D)
    if training:
        t = cfg.train
        batch = 2 * t.batch_size * math.prod(data_shape) * 4
        need = 4 * (g + d) + (g if t.ema else 0) + batch
        what = (f"training {cfg.generator['name']} G ({g // 4:,} parameters) and "
                f"{cfg.discriminator['name']} D ({d // 4:,}) on {list(data_shape)} at batch {t.batch_size}")
    else:
        need = 2 * g
        what = f"the {cfg.generator['name']} generator ({g // 4:,} parameters) for {list(data_shape)}"
    check_allocation(need, what, "lower generator/discriminator width, z_dim or data.image_size")


def check_batch_norm_batches(parts: Components, cfg: Config) -> None:
    """A fully connected layer's batch norm (BatchNorm1d: the dense layers, BEGAN's small
    auto-encoder) normalises each feature over the batch, and a batch of one has nothing to
    normalise over: refuse it in one line before training instead of a traceback at step 1."""
    batch = min(batch_sizes(cfg, parts.family))
    for name, model, seen in (("generator", parts.G, batch), ("discriminator", parts.D, batch // pack_factor(cfg))):
        if seen < 2 and any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules()):
            raise ConfigError(f"the {name} has batch norm over fully connected features, which needs at "
                              f"least 2 samples per batch; it would see {seen}: raise train.batch_size")


def check_fits_weights(G: torch.nn.Module | None, shapes: dict[str, tuple[int, ...]], prefix: str,
                       where) -> None:
    """The generator a config builds (on the meta device) against the tensor shapes a weights
    file declares (read from its header): a mismatch is one line, before anything is built."""
    if G is None:
        return
    expected = {k: tuple(v.shape) for k, v in G.state_dict().items()}
    found = {k[len(prefix) + 1:]: s for k, s in shapes.items() if k.startswith(prefix + ".")}
    missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    if missing or extra:
        what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise CheckpointError(f"{where} does not fit its config: {prefix} weights {what} "
                              f"({len(missing)} missing, {len(extra)} unexpected)")
    for key, shape in expected.items():
        if found[key] != shape:
            raise CheckpointError(f"{where} does not fit its config and meta.json: {prefix}.{key} is "
                                  f"{list(found[key])} in the weights, {list(shape)} by the config")
