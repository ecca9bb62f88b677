"""One typed configuration for a run: recipe file + command-line overrides, validated up front.

Sections with fixed fields (data, optim, train, eval) are dataclasses. Sections that name a
component (generator, discriminator, family) hold `name` plus that component's own parameters,
which are validated against the component's signature, so a new model or family needs no config
code. Unknown keys are errors that list the valid ones.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError
from .limits import CONFIG as CONFIG_LIMITS, check_component


@dataclass
class DataConfig:
    source: str = "mnist"          # a bundled name (mnist, digits, ring8, ...) or a path
    image_size: int = 32
    channels: int = 0              # 0: keep the source's channel count
    skip_bad: bool = False         # skip unreadable images (counted) instead of stopping
    toy_samples: int = 100_000     # size of the 2-D toy mixtures
    in_memory: bool | str = "auto"  # auto: stream a folder or container when its decoded size is
    memory_limit: str = "2GiB"      # over memory_limit; true: hold it in memory; false: stream
    workers: int = 2


@dataclass
class OptimConfig:
    name: str = "adam"             # adam | rmsprop
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    eps: float = 1e-8
    decay_start: float = 1.0       # share of train.steps after which both rates fall linearly towards
                                   # 0 (1: constant); it follows train.steps, so a resume that raises
                                   # train.steps stretches the decay


@dataclass
class TrainConfig:
    steps: int = 2000              # generator updates
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"           # auto | cpu | cuda
    precision: str = "fp32"        # fp32 | bf16 | fp16 (CUDA only) | auto (fastest for the machine)
    compile: bool = False
    channels_last: bool = False    # image models in the channels-last layout (faster convolutions)
    threads: int = 0               # torch intra-op threads on CPU; 0: torch's default
    log_every: int = 50
    sample_every: int = 500
    ckpt_every: int = 500
    keep_ckpts: int = 3
    accumulate: int = 1            # micro-batches per update (large effective batches)
    grid_size: int = 64            # images in each sample grid (fixed latent batch)
    ema: bool = False              # keep an exponential moving average of G for sampling
    ema_half_life_kimg: float = 10.0
    ema_start_step: int = 0
    eval_every: int = 0            # 0: no periodic evaluation
    on_nan: str = "stop"           # stop | rollback (reload the last checkpoint, lower the lr)
    nan_lr_factor: float = 0.5     # learning-rate multiplier applied at each rollback
    max_rollbacks: int = 3
    sync_bn: bool = False          # DDP: synchronise BatchNorm statistics across ranks
    augment: str = ""              # DiffAugment policy for D's inputs, e.g. "color,translation,cutout"
    ada_target: float = 0.0        # ADA: adapt the augmentation probability toward this r_t; 0: off
    ada_kimg: float = 500.0        # ADA: images (thousands) in which p could go from 0 to 1
    progress: bool = True
    logger: tuple[str, ...] = ()   # optional loggers besides metrics.jsonl: tensorboard, wandb


@dataclass
class EvalConfig:
    metrics: tuple[str, ...] = ("fid", "kid")
    extractor: str = ""            # "" : the classifier trained by `ganforge classifier train`
    n: int = 2000


LOGGERS = ("tensorboard", "wandb")  # train.logger values (ganforge.training.loggers)
# eval.metrics values (the keys of ganforge.metrics.registry.METRICS; a test keeps them equal),
# named here so that a misspelt metric stops a run before it trains, not at its first evaluation.
EVAL_METRICS = ("fid", "kid", "is", "pr", "dc", "acc")

FIXED_SECTIONS: dict[str, type] = {
    "data": DataConfig, "optim": OptimConfig, "train": TrainConfig, "eval": EvalConfig,
}
COMPONENT_SECTIONS = ("generator", "discriminator", "family")


@dataclass
class Config:
    recipe: str = ""
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    generator: dict[str, Any] = field(default_factory=lambda: {"name": "dcgan"})
    discriminator: dict[str, Any] = field(default_factory=lambda: {"name": "dcgan"})
    family: dict[str, Any] = field(default_factory=lambda: {"name": "gan"})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


# ---------------------------------------------------------------- value coercion

def _coerce(value: Any, default: Any, where: str) -> Any:
    """Convert a parsed override to the type of the field's default, or raise ConfigError."""
    if default is None:
        return value
    kind = type(default)
    if value is None:
        raise ConfigError(f"{where}: expected {kind.__name__}, got null")
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
                return False
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ValueError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        if kind in (tuple, list):
            if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
                value = value[1:-1]  # [fid,acc] from a shell: a list the TOML parser refused
            items = value if isinstance(value, (list, tuple)) else str(value).split(",")
            items = [i.strip().strip("\"'") if isinstance(i, str) else i for i in items]
            items = [i for i in items if i != ""]
            if default:
                items = [_coerce(i, default[0], where) for i in items]
            return kind(items)
    except (ValueError, TypeError):
        pass
    raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")


def parse_value(text: str) -> Any:
    """Parse a command-line value: TOML literal when it is one, else the raw string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


# ---------------------------------------------------------------- building and overriding

def did_you_mean(word: str, options, prefix: str = "") -> str:
    """' did you mean 'train.steps'?' for the closest option, or '' when none is close."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" did you mean '{prefix}{close[0]}'?" if close else ""


def _apply_fixed(section_obj: Any, section: str, values: dict) -> None:
    fields = {f.name: f for f in dataclasses.fields(section_obj)}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"unknown key '{section}.{key}';{did_you_mean(key, fields, section + '.')} "
                              f"valid keys: {', '.join(sorted(fields))}")
        where = f"{section}.{key}"
        coerce = _auto_or_bool if where in AUTO_OR_BOOL else _coerce
        setattr(section_obj, key, coerce(value, getattr(section_obj, key), where))


# Settings that are "auto" or a bool (old run directories saved plain true/false).
AUTO_OR_BOOL = {"data.in_memory"}


def _auto_or_bool(value: Any, default: Any, where: str) -> bool | str:
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        return _coerce(value, True, where)
    except ConfigError:
        raise ConfigError(f"{where}: expected auto, true or false, got {value!r}") from None


def apply_overrides(cfg: Config, overrides: dict[str, dict[str, Any]]) -> Config:
    """Return a copy of cfg with {section: {key: value}} applied (component keys checked later)."""
    cfg = copy.deepcopy(cfg)
    if not isinstance(overrides, dict):
        raise ConfigError(f"a config is a table of sections, not a {_type_name(overrides)}")
    for section, values in overrides.items():
        if section in (*FIXED_SECTIONS, *COMPONENT_SECTIONS) and not isinstance(values, dict):
            raise ConfigError(f"config section '{section}' must be a table of keys, "
                              f"not a {_type_name(values)}")
        if section in FIXED_SECTIONS:
            _apply_fixed(getattr(cfg, section), section, values)
        elif section in COMPONENT_SECTIONS:
            component = getattr(cfg, section)
            if "name" in values and values["name"] != component.get("name"):
                component.clear()  # a different component: its old parameters do not apply
            component.update(values)
        elif section in ("recipe", "description"):
            if not isinstance(values, str):
                raise ConfigError(f"'{section}' is a plain string, not a section with keys")
            setattr(cfg, section, values)
        else:
            valid = sorted([*FIXED_SECTIONS, *COMPONENT_SECTIONS])
            raise ConfigError(f"unknown config section {section!r};{did_you_mean(section, valid)} "
                              f"valid sections: {', '.join(valid)}")
    check_ranges(cfg)
    return cfg


def check_ranges(cfg: Config) -> None:
    """Values of the right type that still cannot work: caught before any training starts. The
    numeric ranges live in ganforge.limits, shared with the CLI and the explorer."""
    for section in FIXED_SECTIONS:
        for f in dataclasses.fields(getattr(cfg, section)):
            key = f"{section}.{f.name}"
            limit = CONFIG_LIMITS.get(key)
            if limit is None:
                continue
            value = getattr(getattr(cfg, section), f.name)
            if isinstance(value, tuple):
                for item in value:
                    limit.check(item, key)
            else:
                limit.check(value, key)
    t, o = cfg.train, cfg.optim
    unknown = [name for name in t.logger if name not in LOGGERS]
    if unknown:
        raise ConfigError(f"train.logger: unknown logger(s) {', '.join(map(repr, unknown))}; "
                          f"valid: {', '.join(LOGGERS)}")
    unknown = [name for name in cfg.eval.metrics if name not in EVAL_METRICS]
    if unknown:
        raise ConfigError(f"eval.metrics: unknown metric(s) {', '.join(map(repr, unknown))}; "
                          f"valid: {', '.join(EVAL_METRICS)}")
    if t.on_nan not in ("stop", "rollback"):
        raise ConfigError(f"train.on_nan must be stop or rollback, got {t.on_nan!r}")
    if t.ada_target > 0 and not t.augment.strip():
        raise ConfigError("train.ada_target adapts the probability of train.augment's transforms: "
                          "set train.augment too (e.g. color,translation,cutout)")
    if len(o.betas) != 2:
        raise ConfigError(f"optim.betas must be two values in [0, 1), got {list(o.betas)}")


def _type_name(value) -> str:
    return {list: "list", dict: "table", str: "string", type(None): "null", bool: "boolean",
            int: "number", float: "number"}.get(type(value), type(value).__name__)


def parse_set_args(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """['train.steps=10', ...] -> {'train': {'steps': 10}}."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise ConfigError(f"--set expects section.key=value, got '{pair}'")
        out.setdefault(section, {})[name] = parse_value(text.strip())
    return out


# Keys a component section takes that are not its constructor's, with their defaults (which fix
# their types): the discriminator's `pack` configures the wrapper around D
# (training/discriminator_input.py). Kept here so that training and reading a run's config.json
# accept the same sections.
WRAPPER_KEYS = {"discriminator": {"pack": 1}}


def validate_component(section: str, params: dict, registry: dict[str, Callable]) -> dict:
    """Check a component section against the constructor it names; return typed parameters.

    The constructor's keyword arguments with defaults are the valid keys; their defaults fix the
    types. Arguments the trainer supplies (data shape, class count) are not settable here. The
    section's WRAPPER_KEYS are checked and typed the same way.
    """
    name = params.get("name")
    if not isinstance(name, str) or name not in registry:
        hint = did_you_mean(name, registry) if isinstance(name, str) else ""
        raise ConfigError(f"unknown {section} {name!r};{hint} valid: {', '.join(sorted(registry))}")
    settable = {**settable_parameters(registry[name]), **WRAPPER_KEYS.get(section, {})}
    typed = {"name": name}
    for key, value in params.items():
        if key == "name":
            continue
        if key not in settable:
            raise ConfigError(f"unknown key '{section}.{key}' for {section} '{name}';"
                              f"{did_you_mean(key, settable, section + '.')} "
                              f"valid keys: {', '.join(sorted(settable)) or '(none)'}")
        typed[key] = check_component(section, key, _coerce(value, settable[key], f"{section}.{key}"))
    return typed


# Supplied by the trainer from the data, never by the user.
DERIVED_ARGUMENTS = {"data_shape", "num_classes"}


def settable_parameters(constructor: Callable) -> dict[str, Any]:
    """Keyword parameters (with defaults) of a constructor or dataclass, minus derived ones."""
    if dataclasses.is_dataclass(constructor):
        return {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
                for f in dataclasses.fields(constructor) if f.init and f.name not in DERIVED_ARGUMENTS}
    sig = inspect.signature(constructor)
    return {n: p.default for n, p in sig.parameters.items()
            if p.default is not inspect.Parameter.empty and n not in DERIVED_ARGUMENTS}


# ---------------------------------------------------------------- recipes

def recipe_names() -> list[str]:
    files = resources.files("ganforge.recipes").iterdir()
    return sorted(f.name[:-5] for f in files if f.name.endswith(".toml"))


def recipe_table(name: str) -> dict:
    """A bundled recipe's table, its `base` (another recipe) merged in."""
    if name not in recipe_names():
        raise ConfigError(f"unknown recipe '{name}';{did_you_mean(name, recipe_names())} "
                          f"available: {', '.join(recipe_names())}; a config file is a path "
                          "ending in .toml")
    text = resources.files("ganforge.recipes").joinpath(f"{name}.toml").read_text()
    return _with_base(tomllib.loads(text), Path("."), ())


def is_config_file(name: str) -> bool:
    """A user's config file (a path) rather than a bundled recipe's name."""
    return name.endswith(".toml") or "/" in name or "\\" in name


def config_file_table(path: str | Path, _chain: tuple = ()) -> dict:
    """A user's TOML config: the recipes' schema; `base` names a recipe or another file
    (relative to this one) that it refines."""
    if "\0" in str(path):  # the OS cannot open such a name; Path.resolve raises ValueError on it
        raise ConfigError(f"config file name {str(path)!r} contains a null byte")
    path = Path(path)
    if path.resolve() in _chain:
        raise ConfigError(f"config file {path} is its own base (through 'base')")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}") from None
    return _with_base(table, path.parent, (*_chain, path.resolve()))


def _with_base(table: dict, folder: Path, chain: tuple) -> dict:
    base = table.pop("base", None)
    if base is None:
        return table
    if not isinstance(base, str):
        raise ConfigError(f"'base' names a recipe or a config file, got {base!r}")
    parent = config_file_table(folder / base, chain) if is_config_file(base) else recipe_table(base)
    for section, values in table.items():
        if isinstance(values, dict) and isinstance(parent.get(section), dict):
            if "name" in values and values["name"] != parent[section].get("name"):
                parent[section] = {}  # another component: the base's parameters do not apply
            parent[section].update(values)
        else:
            parent[section] = values
    return parent


def load_recipe(name: str) -> Config:
    """A bundled recipe by name, or a config file by path (its name: the file's stem)."""
    if is_config_file(name):
        table = config_file_table(name)
        table.setdefault("recipe", Path(name).stem)
    else:
        table = recipe_table(name)
        table["recipe"] = name
    return apply_overrides(Config(), table)


def from_dict(table: dict) -> Config:
    """Rebuild a Config saved with to_dict (e.g. from a run directory's config.json)."""
    return apply_overrides(Config(), table)


def resolve(recipe: str, sets: list[str] | None = None, data: str | None = None) -> Config:
    cfg = load_recipe(recipe)
    overrides = parse_set_args(sets or [])
    if data is not None:
        overrides.setdefault("data", {})["source"] = data
    return apply_overrides(cfg, overrides)
