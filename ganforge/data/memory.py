"""Hold a dataset in memory or stream it: decided from its decoded size against a limit.

Decoded means the uint8 pixels the trainer batches from (samples x channels x size x size), not
the files' size: a 1.3 GB folder of 128x128 JPEGs decodes to ~60 GB. Each process (each
torchrun rank) would hold its own copy, so the limit is per process.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ganforge.errors import ConfigError

DEFAULT_MEMORY_LIMIT = "2GiB"
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
          "t": 1000**4, "tb": 1000**4, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$")


def parse_size(text: str | int, where: str = "data.memory_limit") -> int:
    """'2GiB', '512MiB', '1.5GB', '800M' or a number of bytes -> bytes (decimal GB, binary GiB)."""
    if isinstance(text, bool):
        raise ConfigError(f"{where}: expected a size such as 2GiB or 512MB, got {text!r}")
    if isinstance(text, int):
        size = text
    else:
        match = _SIZE.match(str(text).lower())
        if match is None or match.group(2) not in _UNITS:
            raise ConfigError(f"{where}: expected a size such as 2GiB, 512MB or 800M, got {text!r}")
        size = int(float(match.group(1)) * _UNITS[match.group(2)])
    if size < 0:
        raise ConfigError(f"{where}: must be >= 0, got {text!r}")
    return size


def requested_in_memory(value: bool | str) -> bool | None:
    """data.in_memory as given (true/false, or "auto" to decide by size) -> True, False or None."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return None
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"data.in_memory: expected auto, true or false, got {value!r}")


def format_size(size: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def decoded_bytes(samples: int, channels: int, image_size: int) -> int:
    return samples * channels * image_size * image_size


@dataclass(frozen=True)
class MemoryPlan:
    """What was decided and why; `summary()` goes into the run's data summary (data.json)."""

    in_memory: bool
    decoded_bytes: int | None   # None: not known before loading (arrays, named sources)
    limit_bytes: int
    reason: str

    def summary(self) -> dict:
        return {"in_memory": self.in_memory, "decoded_bytes": self.decoded_bytes,
                "memory_limit_bytes": self.limit_bytes, "memory_decision": self.reason}


def plan_memory(decoded: int | None, limit: str | int, requested: bool | None, streamable: bool) -> MemoryPlan:
    """`requested` True/False forces the choice (False falls back to memory, saying so, when the
    source cannot stream); None decides: stream when the decoded size is over the limit."""
    limit_bytes = parse_size(limit)
    size = "unknown size" if decoded is None else format_size(decoded)
    if not streamable:
        why = "this source is read whole (arrays, batch files, named sets)"
        if requested is False:
            why = f"streaming was asked for, but {why}"
        return MemoryPlan(True, decoded, limit_bytes, why)
    if requested is not None:
        return MemoryPlan(requested, decoded, limit_bytes, f"data.in_memory={str(requested).lower()} ({size})")
    over = decoded is not None and decoded > limit_bytes
    verb = "over" if over else "within"
    return MemoryPlan(not over, decoded, limit_bytes,
                      f"decoded {size} is {verb} data.memory_limit={format_size(limit_bytes)}")
