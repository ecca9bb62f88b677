"""Conditional accuracy of a trained generator: does it draw the class it is asked for?"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

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
