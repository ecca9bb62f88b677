"""Metrics by name, each a function of (real_features, fake_features, fake_probs, conditions)
returning named numbers, so an evaluator can compute any list of names the same way. `conditions`
says what the fake samples were asked to be: {"labels": class per sample} for a conditional
generator, {"codes": categorical code per sample, "num_codes": K} for InfoGAN."""

from ganforge.errors import ConfigError, GanforgeError
from ganforge.metrics.conditional import accuracy_by_class, code_agreement
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.inception_score import inception_score
from ganforge.metrics.kid import kid
from ganforge.metrics.manifold import density_coverage, precision_recall


def _fid(real, fake, fake_probs, conditions) -> dict[str, float]:
    return {"fid": fid_from_features(real, fake)}


def _kid(real, fake, fake_probs, conditions) -> dict[str, float]:
    mean, std = kid(real, fake)
    return {"kid": mean, "kid_std": std}


def _is(real, fake, fake_probs, conditions) -> dict[str, float]:
    mean, std = inception_score(fake_probs)
    return {"is": mean, "is_std": std}


def _pr(real, fake, fake_probs, conditions) -> dict[str, float]:
    precision, recall = precision_recall(real, fake)
    return {"precision": precision, "recall": recall}


def _dc(real, fake, fake_probs, conditions) -> dict[str, float]:
    density, coverage = density_coverage(real, fake)
    return {"density": density, "coverage": coverage}


def _acc(real, fake, fake_probs, conditions) -> dict:
    """Conditional accuracy by class (a conditional generator) and the categorical code's
    agreement with the class under the best matching (InfoGAN), whichever the samples carry."""
    results: dict = {}
    if "labels" in conditions:
        results.update(accuracy_by_class(fake_probs, conditions["labels"], fake_probs.shape[1]))
    if "codes" in conditions:
        agreement, matching = code_agreement(fake_probs, conditions["codes"], conditions["num_codes"])
        results.update({"code_agreement": agreement, "code_classes": matching})
    if not results:
        raise GanforgeError("metric acc needs samples drawn by class or with a categorical code")
    return results


METRICS = {"fid": _fid, "kid": _kid, "is": _is, "pr": _pr, "dc": _dc, "acc": _acc}


def compute_metrics(names, real_features, fake_features, fake_probs, conditions=None) -> dict[str, float]:
    """All named metrics in one dict, e.g. names=["fid", "kid"] -> {"fid", "kid", "kid_std"}."""
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    results: dict[str, float] = {}
    for name in names:
        results.update(METRICS[name](real_features, fake_features, fake_probs, conditions or {}))
    return results
