"""Metrics by name, each a function of (real_features, fake_features, fake_probs) returning named
numbers, so an evaluator can compute any list of names the same way."""

from ganforge.errors import ConfigError
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.inception_score import inception_score
from ganforge.metrics.kid import kid
from ganforge.metrics.manifold import density_coverage, precision_recall


def _fid(real, fake, fake_probs) -> dict[str, float]:
    return {"fid": fid_from_features(real, fake)}


def _kid(real, fake, fake_probs) -> dict[str, float]:
    mean, std = kid(real, fake)
    return {"kid": mean, "kid_std": std}


def _is(real, fake, fake_probs) -> dict[str, float]:
    mean, std = inception_score(fake_probs)
    return {"is": mean, "is_std": std}


def _pr(real, fake, fake_probs) -> dict[str, float]:
    precision, recall = precision_recall(real, fake)
    return {"precision": precision, "recall": recall}


def _dc(real, fake, fake_probs) -> dict[str, float]:
    density, coverage = density_coverage(real, fake)
    return {"density": density, "coverage": coverage}


METRICS = {"fid": _fid, "kid": _kid, "is": _is, "pr": _pr, "dc": _dc}


def compute_metrics(names, real_features, fake_features, fake_probs) -> dict[str, float]:
    """All named metrics in one dict, e.g. names=["fid", "kid"] -> {"fid", "kid", "kid_std"}."""
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    results: dict[str, float] = {}
    for name in names:
        results.update(METRICS[name](real_features, fake_features, fake_probs))
    return results
