"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs"):
exp(E_x KL(p(y|x) || p(y))), computed per split of the samples."""

import numpy as np
from scipy.special import rel_entr

from ganforge.errors import ConfigError, DataError

# Rows of a probability matrix must sum to 1 within this; catches logits passed by mistake.
ROW_SUM_TOLERANCE = 1e-3


def inception_score(probs, splits: int = 10) -> tuple[float, float]:
    """Mean and standard deviation over `splits` consecutive splits of exp(mean KL(p(y|x) || p(y))),
    p(y) being the split's mean prediction. `probs` [N, K] are class probabilities (softmax),
    e.g. of the Inception logits without the final bias, or of a domain classifier."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2:
        raise DataError(f"inception score needs class probabilities [N, K], got shape {probs.shape}")
    if (probs < 0).any() or not np.allclose(probs.sum(axis=1), 1.0, atol=ROW_SUM_TOLERANCE):
        raise DataError("inception score needs probabilities (rows >= 0 summing to 1), not logits")
    n = len(probs)
    if splits < 1 or n < splits:
        raise ConfigError(f"inception score needs 1 <= splits <= number of samples, got {splits} splits of {n}")
    scores = []
    for i in range(splits):
        part = probs[i * n // splits:(i + 1) * n // splits]
        marginal = part.mean(axis=0, keepdims=True)
        # rel_entr is p log(p / q) with 0 log 0 = 0, so confident one-hot rows are fine.
        scores.append(np.exp(rel_entr(part, marginal).sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))
