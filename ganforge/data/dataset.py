"""In-memory datasets: every source ends up as one of these two small records."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class ImageDataset:
    """Square images held in memory as uint8, with optional integer class labels.

    `images` is [N, C, H, W] with C in {1, 3, 4} and H == W; `labels` is int64 [N] or None.
    Keeping uint8 (not float) makes a 50k-image set 4x smaller; batches convert on the fly.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    num_classes: int
    name: str
    class_names: list[str] | None = None
    skipped: int = 0

    def __post_init__(self) -> None:
        # These are programming errors (a loader built a bad record), not user errors.
        images = self.images
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {images.dtype} {list(images.shape)}")
        if images.shape[1] not in (1, 3, 4):
            raise ValueError(f"images must have 1, 3 or 4 channels, got {images.shape[1]}")
        if images.shape[2] != images.shape[3]:
            raise ValueError(f"images must be square, got {images.shape[2]}x{images.shape[3]}")
        if not images.is_contiguous():
            raise ValueError("images must be contiguous")
        if self.labels is not None:
            if self.labels.dtype != torch.int64 or self.labels.shape != (images.shape[0],):
                raise ValueError(f"labels must be int64 [{images.shape[0]}], got {self.labels.dtype} "
                                 f"{list(self.labels.shape)}")
            if self.num_classes < 1:
                raise ValueError("a labelled dataset needs num_classes >= 1")
        elif self.num_classes != 0:
            raise ValueError("an unlabelled dataset has num_classes == 0")

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[2])

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass
class PointDataset:
    """Samples of a 2-D Gaussian mixture (the toy mode-collapse benchmarks of VEEGAN and PacGAN).

    `labels` says which mode each point came from, so mode coverage can be scored exactly;
    `num_classes` stays 0 because the toy data is modelled unconditionally.
    """

    points: torch.Tensor
    labels: torch.Tensor
    modes: torch.Tensor
    std: float
    name: str
    num_classes: int = 0

    def __len__(self) -> int:
        return int(self.points.shape[0])
