"""A progress bar that only appears when a loop is long enough to be worth watching."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

Item = TypeVar("Item")

# Below this many items a load takes about a second; a bar would only be noise.
MIN_ITEMS_FOR_BAR = 1000


def progress(items: Iterable[Item], total: int, desc: str, min_items: int | None = None) -> Iterator[Item]:
    """Iterate `items` with a tqdm bar on stderr when there are more than `min_items` of them."""
    threshold = MIN_ITEMS_FOR_BAR if min_items is None else min_items
    return iter(tqdm(items, total=total, desc=desc, unit="img", disable=total <= threshold, leave=False))
