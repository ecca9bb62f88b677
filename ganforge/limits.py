"""Valid ranges of every number a user gives ganforge, and the memory budget that sizes are
checked against before anything is allocated.

Command-line arguments, config fields (recipes, --set, a run's config.json) and the explorer's
requests all go through `check`, so a value is accepted or refused the same way everywhere, once,
where it enters, before any work starts. The ranges are documentation too: `ganforge limits`
prints this table (README, "Reliability").
"""
from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass

from .errors import ConfigError

SEED_MAX = 2**63 - 1      # torch generators take 64-bit seeds; numpy and JSON readers need < 2^63
BIG = 10**9               # steps, intervals: far beyond any run, small enough to never overflow


@dataclass(frozen=True)
class Limit:
    kind: type                 # int or float
    lo: float
    hi: float
    note: str = ""
    lo_open: bool = False      # lo itself excluded
    hi_open: bool = False

    def describe(self) -> str:
        left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
        return f"{left}{_num(self.lo)}, {_num(self.hi)}{right}"

    def check(self, value, what: str):
        noun = "an integer" if self.kind is int else "a finite number"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                self.kind is int and isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"{what} must be {noun} in {self.describe()}, got {_shown(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{what} must be {noun} in {self.describe()}, got {value}")
        below = value <= self.lo if self.lo_open else value < self.lo
        above = value >= self.hi if self.hi_open else value > self.hi
        if below or above:
            hint = f" ({self.note})" if self.note else ""
            raise ConfigError(f"{what} must be in {self.describe()}, got {_shown(value)}{hint}")
        return int(value) if self.kind is int else float(value)


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _int(lo, hi, note="") -> Limit:
    return Limit(int, lo, hi, note)


def _float(lo, hi, note="", lo_open=False, hi_open=False) -> Limit:
    return Limit(float, lo, hi, note, lo_open, hi_open)


# Quantities named the same wherever they appear (CLI flags, the explorer, the Python API).
SHARED = {
    "seed": _int(0, SEED_MAX, "seeds are 64-bit"),
    "truncation": _float(0.05, 10.0, "below 0.05 nearly every draw is redrawn; above a few "
                                     "standard deviations nothing is: leave truncation off"),
    "standing_stats": _int(0, 10_000, "batches of 64 latents"),
    "samples": _int(1, 1_000_000),
    "label": _int(0, 1_000_000),
}

# Every numeric field of the fixed config sections (a test checks that none is missing).
CONFIG = {
    "data.image_size": _int(1, 1024, "1024 is the largest resolution any model here supports"),
    "data.channels": _int(0, 4, "0 keeps the source's channels"),
    "data.toy_samples": _int(1, 10_000_000),
    "data.workers": _int(0, 256),
    "optim.g_lr": _float(0, 10, lo_open=True),
    "optim.d_lr": _float(0, 10, lo_open=True),
    "optim.betas": _float(0, 1, hi_open=True),
    "optim.eps": _float(0, 1, lo_open=True),
    "optim.decay_start": _float(0, 1, "1: constant rates"),
    "train.steps": _int(0, BIG),
    "train.batch_size": _int(1, 65_536),
    "train.seed": SHARED["seed"],
    "train.threads": _int(0, 4096, "0: torch's default"),
    "train.log_every": _int(1, BIG),
    "train.sample_every": _int(1, BIG),
    "train.ckpt_every": _int(1, BIG),
    "train.keep_ckpts": _int(1, 10_000),
    "train.accumulate": _int(1, 1024),
    "train.grid_size": _int(1, 1024),
    "train.ema_half_life_kimg": _float(0, 1e9, lo_open=True),
    "train.ema_start_step": _int(0, BIG),
    "train.eval_every": _int(0, BIG, "0: no periodic evaluation"),
    "train.nan_lr_factor": _float(0, 1, lo_open=True, hi_open=True),
    "train.max_rollbacks": _int(0, 1000),
    "train.ada_target": _float(0, 1, "0: no adaptive augmentation", hi_open=True),
    "train.ada_kimg": _float(0, 1e9, lo_open=True),
    "eval.n": _int(1, 1_000_000),
}

# Parameters of components (generator, discriminator, family), by parameter name. Sizes that
# drive loops or layer widths are bounded here; whether a model of that size fits in memory is
# checked separately (see check_allocation), before it is built.
COMPONENT = {
    "z_dim": _int(1, 1 << 20), "width": _int(1, 1 << 20), "hidden": _int(1, 1 << 20),
    "shared_dim": _int(1, 1 << 20), "depth": _int(1, 1000), "multipliers": _int(1, 1024),
    "bottleneck": _int(1, 1 << 20, "channel reduction inside a bottleneck block"),
    "channel_base": _int(1, 1 << 24), "channel_max": _int(1, 1 << 20),
    "attention_resolution": _int(0, 1 << 20), "final_resolution": _int(1, 1 << 20),
    "mbstd_group": _int(0, 65_536), "slope": _float(0, 1),
    "d_steps": _int(1, 100), "categorical": _int(0, 100_000), "continuous": _int(0, 10_000),
    "q_hidden": _int(0, 1 << 20), "dense": _int(0, 1 << 20, "0: no fully connected layer"),
    "warmup_d_steps": _int(0, 10_000), "warmup_g_steps": _int(0, BIG), "warmup_every": _int(1, BIG),
    "label_fraction": _float(0, 1), "label_seed": SHARED["seed"], "patience": _int(0, BIG),
    "batch_sizes": _int(1, 65_536), "lr_factor": _float(0, 1, lo_open=True),
    "stable_kimg": _float(0, 1e9), "transition_kimg": _float(0, 1e9),
}
# Any other numeric component parameter (weights, coefficients): finite and of sane magnitude.
OTHER_INT = _int(-(2**31), 2**31 - 1)
OTHER_FLOAT = _float(-1e9, 1e9)

# Command-line arguments (argparse dest) -> the limit they share.
ARGUMENTS = {
    "seed": SHARED["seed"], "truncation": SHARED["truncation"],
    "standing_stats": SHARED["standing_stats"], "n": SHARED["samples"],
    "label": SHARED["label"], "held_out": SHARED["samples"],
    "steps": _int(2, 1000), "variations": _int(1, 64), "principal": _int(0, 4096),
    "jacobian_samples": _int(1, 100_000), "ridge": _float(0, 1e9), "k": _int(1, 100),
    "rows": _int(1, 1000), "port": _int(0, 65_535), "epochs": _int(1, 100_000),
    "image_size": CONFIG["data.image_size"], "resolution": CONFIG["data.image_size"],
    "channels": CONFIG["data.channels"],
    "stage": _int(0, 16),  # PGGAN growth stages: 4 px * 2**16 is far past any recipe
}


def seed64(value: int) -> int:
    """A seed derived from a user's seed (seed * k + i) folded into torch's 64-bit seed range;
    unchanged for every seed small enough to have worked before."""
    return value % 2**64


def check(name: str, value, what: str | None = None):
    """The value, as the limit's type, or ConfigError naming `what` (default: the name)."""
    limit = SHARED.get(name) or CONFIG.get(name)
    if limit is None:
        raise KeyError(f"no limit named {name!r}")
    return limit.check(value, what or name)


def check_truncation(value, what: str = "truncation") -> float | None:
    """None (no truncation) or a threshold in the shared range."""
    return None if value is None else check("truncation", value, what)


def check_component(section: str, key: str, value):
    """Numeric component parameters (tuples item by item); other types pass through."""
    if isinstance(value, (tuple, list)):
        return type(value)(check_component(section, key, v) for v in value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    limit = COMPONENT.get(key) or (OTHER_INT if isinstance(value, int) else OTHER_FLOAT)
    return limit.check(value, f"{section}.{key}")


def check_arguments(args: dict) -> None:
    """Command-line values, by argparse dest; None means not given."""
    for dest, value in args.items():
        limit = ARGUMENTS.get(dest)
        if limit is not None and value is not None and not isinstance(value, (str, list)):
            limit.check(value, "--" + dest.replace("_", "-"))


def table() -> list[tuple[str, str, str]]:
    """(name, range, note) of every limit, for `ganforge limits` and the README."""
    rows = [(k, v.describe(), v.note) for k, v in SHARED.items()]
    rows += [(k, v.describe(), v.note) for k, v in CONFIG.items()]
    rows += [(f"<component>.{k}", v.describe(), v.note) for k, v in COMPONENT.items()]
    rows += [("memory budget", format_bytes(memory_budget()), f"${BUDGET_ENV} or 80% of RAM")]
    return rows


# ---------------------------------------------------------------- memory budget

BUDGET_ENV = "GANFORGE_MEMORY_BUDGET"
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1000, "kib": 1 << 10, "m": 1 << 20, "mb": 10**6,
          "mib": 1 << 20, "g": 1 << 30, "gb": 10**9, "gib": 1 << 30, "t": 1 << 40, "tb": 10**12,
          "tib": 1 << 40}


def memory_budget() -> int:
    """Bytes one allocation plan may use: $GANFORGE_MEMORY_BUDGET (e.g. 8GiB, 500MB) or 80% of
    this machine's RAM."""
    text = os.environ.get(BUDGET_ENV, "").strip().lower().replace(" ", "")
    if text:
        number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = text[len(number):]
        try:
            value = float(number) * _UNITS[unit]
        except (ValueError, KeyError):
            raise ConfigError(f"{BUDGET_ENV} must be a size such as 8GiB or 500MB, got {text!r}") from None
        if not math.isfinite(value) or value < 1:
            raise ConfigError(f"{BUDGET_ENV} must be a positive size, got {text!r}")
        return int(value)
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.8)
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def format_bytes(n: float) -> str:
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


LARGE = 1 << 30   # plans above this are announced (one warning line), not made quietly


def check_allocation(nbytes: float, what: str, hint: str = "") -> None:
    """Refuse, in one line, a plan that needs more than the memory budget; say so (a warning)
    when it fits but is large."""
    budget = memory_budget()
    if nbytes > budget:
        raise ConfigError(f"{what} would need {format_bytes(nbytes)}, over the memory budget of "
                          f"{format_bytes(budget)} (${BUDGET_ENV})" + (f"; {hint}" if hint else ""))
    if nbytes > LARGE:
        warnings.warn(f"{what} will take {format_bytes(nbytes)} of memory "
                      f"(budget {format_bytes(budget)}, ${BUDGET_ENV})", stacklevel=2)
