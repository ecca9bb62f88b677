"""Batches from an in-memory dataset without per-sample Python work.

The order of each epoch is a permutation seeded by (seed, epoch), so the sampler's whole state is
two integers: resuming at (epoch, position) continues the exact same stream. Under DDP each rank
takes every world_size-th index of the same permutation, so ranks see disjoint shards.
"""
from __future__ import annotations

import torch

from ..errors import DataError


class InMemoryBatches:
    def __init__(self, data: torch.Tensor, labels: torch.Tensor | None, batch_size: int,
                 seed: int, device: torch.device, rank: int = 0, world_size: int = 1):
        self.data = data.to(device)
        self.labels = labels.to(device) if labels is not None else None
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch, self.position = 0, 0
        self._order: torch.Tensor | None = None
        self._set_size(batch_size)

    def _set_size(self, batch_size: int) -> None:
        per_rank = self.data.shape[0] // self.world_size
        if per_rank < batch_size or batch_size < 1:
            raise DataError(f"the dataset has {self.data.shape[0]} samples, fewer than one batch of "
                            f"{batch_size} per process ({self.world_size} process(es)); "
                            "lower train.batch_size")
        self.batch_size = batch_size
        self.batches_per_epoch = per_rank // batch_size

    def set_batch_size(self, batch_size: int) -> None:
        """Change the batch size; the stream continues with a fresh epoch (deterministic)."""
        if batch_size == self.batch_size:
            return
        self._set_size(batch_size)
        if self.position:
            self.epoch, self.position = self.epoch + 1, 0
        self._order = None

    def _epoch_order(self) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(self.data.shape[0], generator=g)
        shard = perm[self.rank::self.world_size]
        usable = self.batches_per_epoch * self.batch_size
        return shard[:usable].view(self.batches_per_epoch, self.batch_size).to(self.data.device)

    def indices(self) -> torch.Tensor:
        """Indices of the next batch (advances the stream)."""
        if self._order is None:
            self._order = self._epoch_order()
        idx = self._order[self.position]
        self.position += 1
        if self.position == self.batches_per_epoch:
            self.epoch, self.position, self._order = self.epoch + 1, 0, None
        return idx

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = self.indices()
        x = self.data[idx]
        if x.dtype == torch.uint8:
            x = x.float().div_(127.5).sub_(1.0)  # uint8 -> [-1, 1] on the device
        return x, (self.labels[idx] if self.labels is not None else None)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> None:
        self._set_size(int(state.get("batch_size", self.batch_size)))
        self.epoch, self.position, self._order = int(state["epoch"]), int(state["position"]), None
