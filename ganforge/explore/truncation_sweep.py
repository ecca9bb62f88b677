"""The truncation trick's fidelity/variety trade-off (Brock et al. 2019, sec. 3.1): sample the same
latents at several truncation thresholds, score each set, and plot the scores against the
threshold. Smaller thresholds give more typical, less varied samples: IS and class accuracy rise
while FID (which also counts variety) eventually gets worse.

Scores come from a `score_fn(images_uint8, labels) -> {name: number}`; `classifier_scorer` builds
one from a ganforge.metrics feature extractor (FID, the extractor's Inception-style score and,
for conditional models, the share of samples classified as the class they were drawn for).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .. import run
from ..errors import ConfigError, GanforgeError
from ..images import to_uint8
from ..limits import check_truncation
from ..metrics import fid_from_features, inception_score
from .plotting import Panel, Series, write_figure
from .standing import standing_stats_

ScoreFn = Callable[[torch.Tensor, torch.Tensor | None], dict[str, float]]
Threshold = float | None  # None: no truncation

DEFAULT_THRESHOLDS = "0.25,0.5,0.75,1.0,1.5,2.0,none"


def parse_thresholds(text: str) -> list[Threshold]:
    """'0.5,1,none' -> [0.5, 1.0, None]; thresholds must be positive."""
    values: list[Threshold] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item.lower() == "none":
            values.append(None)
            continue
        try:
            value = float(item)
        except ValueError:
            raise ConfigError(f"truncation values are positive numbers or 'none', got {item!r}") from None
        values.append(check_truncation(value, "truncation threshold"))
    if not values:
        raise ConfigError("give at least one truncation value")
    return values


def balanced_labels(n: int, num_classes: int) -> torch.Tensor:
    """0, 1, ..., K-1, 0, 1, ...: every class equally often (to within one)."""
    return torch.arange(n) % num_classes


def truncation_sweep(g, thresholds: Sequence[Threshold], score_fn: ScoreFn, n: int = 2000,
                     seed: int = 0, standing_stats: int = 0) -> list[dict]:
    """Score n samples of the loaded generator `g` (ganforge.api.LoadedGenerator) at each threshold.

    Every threshold uses the same seed, so the sets differ only by truncation. Conditional models
    draw balanced labels. `standing_stats` > 0 recomputes G's BatchNorm statistics from that many
    batches of latents truncated like the samples (ganforge.explore.standing.standing_stats_).
    Returns one dict per threshold: {"truncation": t, **scores}.
    """
    labels = balanced_labels(n, g.num_classes) if g.conditional else None
    rows = []
    for threshold in thresholds:
        if standing_stats:
            standing_stats_(g.G, g.family, standing_stats, seed=seed, truncation=threshold)
        samples = g.sample(n, seed=seed, labels=labels, truncation=threshold)
        rows.append({"truncation": threshold, **score_fn(to_uint8(samples), labels)})
    return rows


def classifier_scorer(extractor, real_images: torch.Tensor) -> ScoreFn:
    """A score_fn from a ganforge.metrics FeatureExtractor and uint8 real images: FID against the
    real images, the Inception-style score of the extractor's class probabilities ("is"), and,
    when labels are given and the extractor predicts as many classes as the labels span,
    "accuracy": the share of samples classified as their label."""
    real_features, _ = extractor.extract(real_images)

    def score(images: torch.Tensor, labels: torch.Tensor | None) -> dict[str, float]:
        features, probs = extractor.extract(images)
        try:
            fid = fid_from_features(real_features, features)
        except GanforgeError as error:  # e.g. near-identical samples at a tiny threshold
            warnings.warn(f"FID not computed: {error}")
            fid = float("nan")
        out = {"fid": fid, "is": inception_score(probs, splits=min(10, len(probs)))[0]}
        if labels is not None and probs.shape[1] > int(labels.max()):
            out["accuracy"] = float((probs.argmax(1) == labels.numpy()).mean())
        return out

    return score


def real_images(cfg, n: int, seed: int = 0) -> torch.Tensor:
    """n uint8 images drawn without replacement from the run's own dataset (all if fewer)."""
    dataset = run.dataset(cfg)
    if not hasattr(dataset, "images"):
        raise GanforgeError("the truncation sweep needs an image dataset")
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(dataset.images)))
    return dataset.images[order[:n]]


# ---------------------------------------------------------------- the plot

def _label(threshold: Threshold) -> str:
    return "none" if threshold is None else f"{threshold:g}"


def plot_truncation_curve(rows: list[dict], path: str | Path, title: str = "",
                          metrics: Sequence[str] | None = None) -> Path:
    """One panel per score (default: every numeric key but "truncation") against the threshold,
    thresholds in increasing order with no truncation last; written as a PNG. A score that
    could not be computed (NaN) leaves a gap."""
    rows = sorted(rows, key=lambda r: (r["truncation"] is None, r["truncation"] or 0.0))
    metrics = list(metrics or [k for k in rows[0] if k != "truncation"])
    ticks = [_label(r["truncation"]) for r in rows]
    panels = [Panel(name, [Series(name, list(range(len(rows))), [float(r[name]) for r in rows])],
                    xlabel="truncation threshold", x_ticks=ticks) for name in metrics]
    return write_figure(panels, path, title=title, columns=len(panels))


def format_table(rows: list[dict], extractor_name: str = "") -> str:
    """A markdown table of the sweep."""
    keys = [k for k in rows[0] if k != "truncation"]
    lines = [f"| truncation | {' | '.join(keys)} |", "|---" * (len(keys) + 1) + "|"]
    for r in rows:
        lines.append(f"| {_label(r['truncation'])} | " + " | ".join(f"{r[k]:.4g}" for k in keys) + " |")
    if extractor_name:
        lines.append(f"\nScores from features of {extractor_name}.")
    return "\n".join(lines)
