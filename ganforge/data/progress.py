"""A progress bar that only appears when a loop is long enough to be worth watching, and only on a
terminal: in a log file (a batch job, CI, `> log 2>&1`) carriage-return redraws are noise, so a
long load says so in one plain line instead. tqdm's TQDM_* settings are respected."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

Item = TypeVar("Item")

# Below this many items a load takes about a second; a bar would only be noise.
MIN_ITEMS_FOR_BAR = 1000


def tqdm_environment() -> dict:
    """The keyword defaults tqdm took from TQDM_* variables when it was imported."""
    return dict(getattr(tqdm.__dict__.get("__init__"), "keywords", None) or {})


def progress(items: Iterable[Item], total: int, desc: str, min_items: int | None = None) -> Iterator[Item]:
    """Iterate `items` with a tqdm bar on stderr when there are more than `min_items` of them (on
    a terminal; elsewhere one line naming the load)."""
    threshold = MIN_ITEMS_FOR_BAR if min_items is None else min_items
    if total <= threshold or tqdm_environment().get("disable"):
        return iter(items)
    if not sys.stderr.isatty():
        print(f"{desc}: {total} images", file=sys.stderr, flush=True)
        return iter(items)
    return iter(tqdm(items, total=total, desc=desc, unit="img", leave=False))
