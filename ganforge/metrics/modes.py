"""Mode coverage: how many modes of a known multi-modal distribution a generator reaches, and how
evenly. 2-D Gaussian mixtures as in VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018);
Stacked MNIST's 1000 modes as in Metz et al. 2017 (Unrolled GAN) and PacGAN."""

from dataclasses import dataclass, field

import numpy as np
import torch

from ganforge.errors import DataError
from ganforge.metrics.classifier import DigitClassifier
from ganforge.metrics.extractors import ClassifierExtractor, FeatureExtractor

# A sample is high quality when it lies within this many standard deviations of its nearest mode.
HIGH_QUALITY_STDS = 3.0
STACKED_MNIST_MODES = 1000


@dataclass(frozen=True)
class ModeCoverage:
    modes_captured: int          # modes with at least one high-quality sample
    num_modes: int
    high_quality_share: float    # high-quality samples / all samples
    reverse_kl: float            # KL(p_gen || uniform) of the high-quality mode histogram
    counts: np.ndarray = field(compare=False)  # high-quality samples per mode


@dataclass(frozen=True)
class StackedMnistModes:
    modes_covered: int           # of the 1000 digit triples, those generated at least once
    reverse_kl: float            # KL(p_gen || uniform over 1000)
    counts: np.ndarray = field(compare=False)  # samples per mode id 100 * a + 10 * b + c


def reverse_kl_to_uniform(counts) -> float:
    """KL(p || u) = sum_m p_m log(M p_m) for the histogram p = counts / sum(counts) over M modes,
    u uniform. Modes with no samples add 0 (0 log 0 = 0), so missed modes raise the divergence only
    by concentrating mass elsewhere; it ranges from 0 (even) to log M (one mode). NaN if no samples."""
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total == 0:
        return float("nan")
    p = counts[counts > 0] / total
    return float(np.sum(p * np.log(len(counts) * p)))


def mode_coverage_2d(samples, modes, std: float) -> ModeCoverage:
    """Score 2-D samples [N, 2] against mixture modes [M, 2] of standard deviation `std`: each
    sample belongs to its nearest mode and is high quality if within 3 std of it. The reverse KL
    compares the histogram of high-quality samples over modes with the uniform mixture weights."""
    samples, modes = np.asarray(samples, np.float64), np.asarray(modes, np.float64)
    if samples.ndim != 2 or modes.ndim != 2 or samples.shape[1] != modes.shape[1] or len(samples) == 0:
        raise DataError(f"mode coverage needs samples [N, 2] and modes [M, 2], got {samples.shape} and {modes.shape}")
    distances = np.linalg.norm(samples[:, None, :] - modes[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    high_quality = distances[np.arange(len(samples)), nearest] <= HIGH_QUALITY_STDS * std
    counts = np.bincount(nearest[high_quality], minlength=len(modes))
    return ModeCoverage(
        modes_captured=int((counts > 0).sum()),
        num_modes=len(modes),
        high_quality_share=float(high_quality.mean()),
        reverse_kl=reverse_kl_to_uniform(counts),
        counts=counts,
    )


def stacked_mnist_modes(images_uint8: torch.Tensor, classifier, batch_size: int = 500) -> StackedMnistModes:
    """Classify each channel of 3-channel images [N, 3, H, W] as a digit a, b, c (a DigitClassifier
    or a 10-class FeatureExtractor) and count mode ids 100 a + 10 b + c."""
    if images_uint8.ndim != 4 or images_uint8.shape[1] != 3:
        raise DataError(f"Stacked MNIST images must be [N, 3, H, W], got {tuple(images_uint8.shape)}")
    if isinstance(classifier, DigitClassifier):
        classifier = ClassifierExtractor(classifier)
    if not isinstance(classifier, FeatureExtractor):
        raise DataError("stacked_mnist_modes needs a DigitClassifier or FeatureExtractor, "
                        f"got {type(classifier).__name__}")
    digits = []
    for channel in range(3):
        _, probs = classifier.extract(images_uint8[:, channel:channel + 1], batch_size=batch_size)
        if probs.shape[1] != 10:
            raise DataError(f"Stacked MNIST needs a 10-class digit classifier, got {probs.shape[1]} classes")
        digits.append(probs.argmax(axis=1))
    mode_ids = 100 * digits[0] + 10 * digits[1] + digits[2]
    counts = np.bincount(mode_ids, minlength=STACKED_MNIST_MODES)
    return StackedMnistModes(int((counts > 0).sum()), reverse_kl_to_uniform(counts), counts)
