"""Does a generator draw the class it is asked for (conditional accuracy), and does a categorical
latent code name a class (InfoGAN's code agreement)? Both judged by a classifier's probabilities."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..errors import GanforgeError
from ..images import to_uint8

Classifier = Callable[[torch.Tensor], "np.ndarray | torch.Tensor"]


@torch.no_grad()
def conditional_accuracy(generator, classify: Classifier, n_per_class: int = 100, seed: int = 0,
                         batch_size: int = 500) -> float:
    """Share of samples that `classify` assigns to the class they were generated for.

    `generator` is a conditional LoadedGenerator (`ganforge.api.load`); `classify` maps uint8
    images [N, C, H, W] to class probabilities [N, K] (numpy or torch), e.g.
    `lambda images: extractor.extract(images)[1]` with a ganforge.metrics ClassifierExtractor.
    Every class gets `n_per_class` samples, so the score is the mean of the per-class accuracies.
    """
    if not generator.conditional:
        raise GanforgeError("conditional accuracy needs a conditional generator")
    if n_per_class < 1:
        raise GanforgeError(f"n_per_class must be >= 1, got {n_per_class}")
    k = generator.num_classes
    labels = torch.arange(k).repeat_interleave(n_per_class)
    images = to_uint8(generator.generate(generator.latent(len(labels), seed=seed, labels=labels)))
    correct = 0
    for chunk, wanted in zip(images.split(batch_size), labels.split(batch_size)):
        probs = torch.as_tensor(np.asarray(classify(chunk)))
        if probs.dim() != 2 or probs.shape != (len(chunk), k):
            raise GanforgeError(f"the classifier returned shape {tuple(probs.shape)}; expected "
                                f"({len(chunk)}, {k}): one probability per generator class")
        correct += int((probs.argmax(1) == wanted).sum())
    return correct / len(labels)


def accuracy_by_class(probs, labels, num_classes: int) -> dict[str, float]:
    """{"acc": mean of the per-class accuracies, "acc_<c>": share of the samples of class c that
    `probs` [N, K] (a classifier's class probabilities) assigns to c}. The mean over classes
    weighs every class alike when the samples' labels are drawn at random; a class without
    samples has no entry and does not count."""
    predicted = np.asarray(probs).argmax(1)
    labels = np.asarray(labels)
    per_class = {c: float((predicted[labels == c] == c).mean())
                 for c in range(num_classes) if (labels == c).any()}
    return {"acc": float(np.mean(list(per_class.values()))),
            **{f"acc_{c}": value for c, value in per_class.items()}}


def code_agreement(probs, codes, num_codes: int) -> tuple[float, list[int]]:
    """How well a categorical latent code (InfoGAN) names the class a classifier sees: the share
    of samples whose code maps to their predicted class under the one-to-one map of code values
    to classes that agrees most often (Hungarian matching on the code x class counts). Returns the
    share and, per code value, the class it is matched to (-1 when there are more code values
    than classes)."""
    predicted = np.asarray(probs).argmax(1)
    counts = np.zeros((num_codes, np.asarray(probs).shape[1]), dtype=np.int64)
    np.add.at(counts, (np.asarray(codes), predicted), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    matching = [-1] * num_codes
    for code, cls in zip(rows, cols):
        matching[int(code)] = int(cls)
    return float(counts[rows, cols].sum() / len(predicted)), matching
