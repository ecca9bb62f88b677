"""Batches for the trainer: from an in-memory dataset without per-sample Python work, or streamed
from an image folder too large for memory through a DataLoader with worker processes.

The order of each epoch is a permutation seeded by (seed, epoch), so the sampler's whole state is
two integers: resuming at (epoch, position) continues the exact same stream. Under DDP each rank
takes every world_size-th index of the same permutation, so ranks see disjoint shards. Both kinds
of batches follow the same order, so a folder streamed or held in memory trains identically.
"""
from __future__ import annotations

import warnings
import weakref
from pathlib import Path

import torch

from ..errors import ConfigError, DataError
from ..limits import seed64
from .arrays import convert_channels
from .images import read_image


def epoch_order(n: int, seed: int, epoch: int, rank: int, world_size: int,
                batch_size: int) -> torch.Tensor:
    """Dataset indices of one epoch for one rank, as [batches, batch_size] (the remainder that
    does not fill a batch on every rank is dropped)."""
    g = torch.Generator().manual_seed(seed64(seed * 1_000_003 + epoch))
    perm = torch.randperm(n, generator=g)
    batches = (n // world_size) // batch_size
    shard = perm[rank::world_size]
    return shard[:batches * batch_size].view(batches, batch_size)


def to_model_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> float in [-1, 1] (on whatever device x is)."""
    return x.float().div_(127.5).sub_(1.0) if x.dtype == torch.uint8 else x


class _EpochStream:
    """The (epoch, position) bookkeeping both kinds of batches share."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int, world_size: int):
        self.n, self.seed, self.rank, self.world_size = n, seed, rank, world_size
        self.epoch, self.position = 0, 0
        self.consumed: list[int] | None = None  # debugging: every index this process used
        self._order: torch.Tensor | None = None  # this epoch's indices, computed when needed
        self._set_size(batch_size)

    def _set_size(self, batch_size: int) -> None:
        per_rank = self.n // self.world_size
        if per_rank < batch_size or batch_size < 1:
            raise DataError(f"the dataset has {self.n} samples, fewer than one batch of "
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
        self._restart()

    def order(self) -> torch.Tensor:
        """This epoch's indices for this rank, [batches, batch_size] on the CPU."""
        if self._order is None:
            self._order = epoch_order(self.n, self.seed, self.epoch, self.rank, self.world_size,
                                      self.batch_size)
        return self._order

    def _advance(self, idx: torch.Tensor) -> None:
        if self.consumed is not None:
            self.consumed.extend(idx.tolist())
        self.position += 1
        if self.position == self.batches_per_epoch:
            self.epoch, self.position = self.epoch + 1, 0
            self._restart()

    def _restart(self) -> None:
        """Forget anything computed for the old (epoch, position)."""
        self._order = None

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> None:
        self._set_size(int(state.get("batch_size", self.batch_size)))
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        if self.position >= self.batches_per_epoch:  # resumed with more processes: next epoch
            self.epoch, self.position = self.epoch + 1, 0
        self._restart()


class InMemoryBatches(_EpochStream):
    def __init__(self, data: torch.Tensor, labels: torch.Tensor | None, batch_size: int,
                 seed: int, device: torch.device, rank: int = 0, world_size: int = 1):
        self.data = data.to(device)
        self.labels = labels.to(device) if labels is not None else None
        self._epoch_indices: torch.Tensor | None = None
        super().__init__(data.shape[0], batch_size, seed, rank, world_size)

    def _restart(self) -> None:
        super()._restart()
        self._epoch_indices = None

    def indices(self) -> torch.Tensor:
        """Indices of the next batch (advances the stream)."""
        if self._epoch_indices is None:
            order = self.order()
            if self.data.device.type == "cuda":  # pinned: the copy does not wait for the GPU
                order = order.pin_memory()
            self._epoch_indices = order.to(self.data.device, non_blocking=True)
        idx = self._epoch_indices[self.position]
        self._advance(idx)
        return idx

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = self.indices()
        x = to_model_range(self.data[idx])  # uint8 -> [-1, 1] on the device
        return x, (self.labels[idx] if self.labels is not None else None)


# ---------------------------------------------------------------- streaming an image folder

class ImageStream(torch.utils.data.Dataset):
    """A dataset decoded one item per `__getitem__` in DataLoader workers, never held whole:
    items are (uint8 [channels, image_size, image_size], label or -1, error message or "").
    Subclasses set channels, image_size, name, labels (None or one per item), num_classes."""

    channels: int
    image_size: int


class FolderStream(ImageStream):
    """The images of a folder decoded one file per item (in DataLoader workers) with the same
    decoder and fitting as the in-memory folder loader: uint8 [C, size, size]."""

    def __init__(self, files: list[Path], labels: list[int] | None, class_names: list[str] | None,
                 image_size: int, channels: int, name: str):
        self.files, self.labels, self.class_names = files, labels, class_names
        self.image_size, self.channels, self.name = image_size, channels, name
        self.num_classes = 0 if class_names is None else len(class_names)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, str]:
        """(pixels, label or -1, error message or "") -- a bad file is reported, not raised, so
        the main process can stop with a one-line error or skip it."""
        label = -1 if self.labels is None else self.labels[index]
        try:
            pixels = convert_channels(read_image(self.files[index], self.image_size)[None], self.channels)[0]
        except DataError as error:
            blank = torch.zeros(self.channels, self.image_size, self.image_size, dtype=torch.uint8)
            return blank, label, str(error)
        return torch.from_numpy(pixels if pixels.flags.writeable else pixels.copy()), label, ""


class _BatchOrder(torch.utils.data.Sampler):
    """Yields the remaining batches of the current epoch, from the stream's position."""

    def __init__(self, stream: StreamingBatches):
        # A weak reference: no cycle through the DataLoader, so the workers stop as soon as the
        # stream is dropped (a cycle left them to the garbage collector, seconds later).
        self.stream = weakref.proxy(stream)

    def __iter__(self):
        s = self.stream
        yield from s.order()[s.position:].tolist()

    def __len__(self) -> int:
        return self.stream.batches_per_epoch - self.stream.position


class StreamingBatches(_EpochStream):
    """Batches decoded by DataLoader workers into pinned memory, in the same per-epoch order as
    InMemoryBatches, so a resumed run continues exactly (state: epoch, position)."""

    def __init__(self, dataset: ImageStream, batch_size: int, seed: int, device: torch.device,
                 rank: int = 0, world_size: int = 1, workers: int = 2, skip_bad: bool = False):
        self.dataset, self.device, self.skip_bad = dataset, device, skip_bad
        self.skipped = 0
        self._iterator = None
        super().__init__(len(dataset), batch_size, seed, rank, world_size)
        self.loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=_BatchOrder(self), num_workers=workers,
            pin_memory=device.type == "cuda", persistent_workers=workers > 0,
            prefetch_factor=4 if workers > 0 else None)

    def _restart(self) -> None:
        super()._restart()
        self._iterator = None

    @property
    def data(self):
        raise ConfigError("this family needs the whole training set in memory; set data.in_memory=true")

    labels = data

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self._iterator is None:
            self._iterator = iter(self.loader)
        pixels, labels, errors = next(self._iterator)
        self._advance(self.order()[self.position])
        pixels = self._without_bad_files(pixels, errors)
        x = to_model_range(pixels.to(self.device, non_blocking=True))
        y = labels.to(self.device, non_blocking=True) if self.dataset.labels is not None else None
        return x, y

    def _without_bad_files(self, pixels: torch.Tensor, errors: list[str]) -> torch.Tensor:
        bad = [i for i, e in enumerate(errors) if e]
        if not bad:
            return pixels
        if not self.skip_bad:
            raise DataError(errors[bad[0]])
        good = [i for i, e in enumerate(errors) if not e]
        if not good:
            raise DataError(f"every image of a batch is unreadable; first: {errors[bad[0]]}")
        if self.skipped == 0:
            warnings.warn(f"skipping unreadable image(s) in {self.dataset.name}; first: {errors[bad[0]]}")
        self.skipped += len(bad)
        # Each bad file's slot takes a good image of the same batch: the batch keeps its size.
        pixels = pixels.clone()
        for k, i in enumerate(bad):
            pixels[i] = pixels[good[k % len(good)]]
        return pixels
