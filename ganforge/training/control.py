"""The narrow view of a running trainer that a family's schedule may act on."""
from __future__ import annotations


class TrainingControl:
    def __init__(self, trainer):
        self._t = trainer

    @property
    def step(self) -> int:
        return self._t.step

    @property
    def images_seen(self) -> int:
        return self._t.images_seen

    @property
    def batch_size(self) -> int:
        return self._t.batches.batch_size

    def set_batch_size(self, n: int) -> None:
        self._t.set_batch_size(n)

    def reset_optimizers(self) -> None:
        """Fresh optimiser state (PGGAN resets Adam at each new resolution)."""
        self._t.reset_optimizers()
