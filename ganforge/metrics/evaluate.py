"""Evaluate a generator against its dataset: generate n samples, extract features, compute the
named metrics, and put a real-vs-real baseline at the same sample size beside them (feature-space
numbers from a domain classifier mean nothing across papers without it; Binkowski et al. 2018).

The real side is drawn by a seeded permutation of the dataset: the reference set is its first
min(n, N) images. The baseline compares the reference with a second real set of the same size:
the next images of the permutation when the dataset holds two disjoint sets ("disjoint"), else a
resample with replacement of the whole dataset ("bootstrap"; it shares images with the reference,
so it reads lower than a held-out baseline would). Both sets' features are cached on disk
(ganforge.metrics.reference).

For 2-D toy mixtures there are no features: the numbers are mode coverage (VEEGAN, PacGAN)."""

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganforge import safe_files
from ganforge.errors import DataError, GanforgeError
from ganforge.images import to_uint8
from ganforge.io import atomic_write_bytes, json_line
from ganforge.metrics.extractors import FeatureExtractor, get_extractor
from ganforge.metrics.fid import RunningStatistics, feature_statistics, frechet_distance
from ganforge.metrics.modes import mode_coverage_2d
from ganforge.metrics.registry import compute_metrics
from ganforge.metrics.reference import dataset_digest, load_reference, reference_key, reference_path, save_reference
from ganforge.models.base import inference
from ganforge.nn.inference import inference_copy
from ganforge.nn.latent import render_batches

DEFAULT_METRICS = ("fid", "kid", "is", "pr")
CLASSIFIERS_DIR = "classifiers"


# ---------------------------------------------------------------- extractors

def default_classifier_dir(source: str) -> Path:
    """classifiers/<source name>, relative to the working directory."""
    return Path(CLASSIFIERS_DIR) / Path(str(source)).name


def resolve_extractor(name: str, source: str, device="cpu", inception_weights=None) -> FeatureExtractor:
    """The named extractor, or (name "") the classifier `ganforge classifier train` saved for
    this data source, with a one-line error saying how to make it when it is missing."""
    if name:
        return get_extractor(name, device=device, inception_weights=inception_weights)
    path = default_classifier_dir(source)
    if not (path / "classifier.json").is_file():
        raise GanforgeError(f"no feature extractor given and no classifier at {path}: train one with "
                            f"`ganforge classifier train --data {source}`, or pass "
                            "--extractor inception|classifier:PATH (eval.extractor during training)")
    return get_extractor(f"classifier:{path}", device=device)


# ---------------------------------------------------------------- samples

def _latent(family, G, n: int, seed: int, device):
    """n latents drawn at once from a generator seeded by `seed` (so the samples do not depend on
    the batch size)."""
    device = torch.device(device)
    return family.sample_latent(n, G.noise_dim, device, torch.Generator(device).manual_seed(seed))


def _render(family, G, n: int, seed: int, device, batch_size: int):
    """G's outputs for _latent(...), one batch at a time."""
    return render_batches(lambda chunk: family.generate(G, chunk), _latent(family, G, n, seed, device), batch_size)


def sample_conditions(G, family, n: int, seed: int, device) -> dict:
    """What the samples evaluate() draws were asked to be (ganforge.metrics.registry's
    `conditions`): their classes when G is conditional, their categorical code (InfoGAN)."""
    latent = _latent(family, G, n, seed, device)
    conditions = {}
    if getattr(G, "conditioning", "none") != "none" and latent.labels is not None:
        conditions["labels"] = latent.labels.cpu().numpy()
    if "cat" in latent.codes:
        conditions.update(codes=latent.codes["cat"].cpu().numpy(), num_codes=int(family.categorical))
    return conditions


def check_accuracy_possible(conditions: dict, extractor: FeatureExtractor, G) -> None:
    """One-line refusals of metric acc where it means nothing."""
    if not conditions:
        raise GanforgeError("metric acc needs a class-conditional generator or a categorical code "
                            "(InfoGAN); this run has neither")
    if extractor.num_classes is None:
        raise GanforgeError(f"metric acc needs a classifier of the data's classes "
                            f"(--extractor classifier:PATH); {extractor.name} has no class probabilities for it")
    if "labels" in conditions and extractor.num_classes != G.num_classes:
        raise GanforgeError(f"metric acc: the classifier knows {extractor.num_classes} classes, "
                            f"the generator {G.num_classes}")


def generate_uint8(G, family, n: int, seed: int, device, image_size: int, batch_size: int = 256) -> torch.Tensor:
    """n generated images as uint8 [n, C, image_size, image_size] on the CPU, from G in eval mode
    under inference_mode, with latents drawn from a generator seeded by `seed` (the global RNG is
    not touched). Images of another size (PGGAN mid-growth) are resized bilinearly."""
    return torch.cat(list(generated_batches(G, family, n, seed, device, image_size, batch_size)))


def generated_batches(G, family, n: int, seed: int, device, image_size: int, batch_size: int = 256):
    """generate_uint8's images one batch at a time, from an inference copy of G (BatchNorm
    folded, channels-last: ganforge.nn.inference), so an evaluation never holds all n images."""
    fast = inference_copy(G)
    with torch.inference_mode():
        for x in _render(family, fast, n, seed, device, batch_size):
            x = x.float()
            if x.shape[-1] != image_size or x.shape[-2] != image_size:
                x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False,
                                  antialias=x.shape[-1] > image_size)
            yield to_uint8(x).contiguous()


def generate_points(G, family, n: int, seed: int, device, batch_size: int = 4096) -> np.ndarray:
    """n generated 2-D points (float64) from G in eval mode, seeded like generate_uint8."""
    with inference(G):
        return np.concatenate([x.double().cpu().numpy()
                               for x in _render(family, G, n, seed, device, batch_size)])


# ---------------------------------------------------------------- the real side

def real_sets(num_images: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Indices of the reference set, of the baseline set (same size) and how the baseline was
    drawn: "disjoint" when the dataset holds two sets of min(n, N), else "bootstrap"."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(num_images)
    m = min(n, num_images)
    if 2 * m <= num_images:
        return order[:m], order[m:2 * m], "disjoint"
    return order[:m], rng.choice(num_images, m, replace=True), "bootstrap"


def reference_features(dataset, extractor: FeatureExtractor, n: int, seed: int, source: str | None = None,
                       cache_dir=None, batch_size: int = 256) -> dict[str, np.ndarray]:
    """{"reference", "baseline", "baseline_probs", "baseline_kind"} for an image dataset, read from
    the cache when an identical computation was done before, else computed and cached."""
    images = dataset.images
    key = reference_key(dataset=dataset.name, source=str(source or dataset.name), image_size=int(images.shape[-1]),
                        channels=int(images.shape[1]), extractor_key=extractor.key, n=n, seed=seed,
                        content=dataset_digest(images))
    path = reference_path(key, cache_dir)
    cached = load_reference(path)
    if cached is not None and {"reference", "baseline", "baseline_probs", "baseline_kind"} <= set(cached):
        return cached
    ref_idx, base_idx, kind = real_sets(len(images), n, seed)
    reference, _ = extractor.extract(images[torch.from_numpy(ref_idx)], batch_size=batch_size)
    baseline, baseline_probs = extractor.extract(images[torch.from_numpy(base_idx)], batch_size=batch_size)
    arrays = {"reference": reference, "baseline": baseline, "baseline_probs": baseline_probs,
              "baseline_kind": np.array(kind)}
    save_reference(path, arrays)
    return arrays


# ---------------------------------------------------------------- evaluation

def evaluate(loaded_generator, dataset, extractor: FeatureExtractor | None, metrics=DEFAULT_METRICS,
             n: int = 10000, seed: int = 0, cache_dir=None, batch_size: int = 256, source: str | None = None) -> dict:
    """Metrics of `loaded_generator` (ganforge.api.load's result, or anything with G, family and
    device) against `dataset`:

        {"fid": ..., "kid": ..., "kid_std": ..., "is": ..., "is_std": ..., "precision": ...,
         "recall": ..., "extractor": extractor.name, "n": n, "n_real": ..., "seed": seed,
         "baseline": {same metrics for real vs real, "kind": "disjoint" | "bootstrap"}}

    For a 2-D point dataset the extractor is unused and the result is mode coverage."""
    g = loaded_generator
    return evaluate_model(g.G, g.family, g.device, dataset, extractor, metrics, n, seed, cache_dir,
                          batch_size, source)


def evaluate_model(G, family, device, dataset, extractor, metrics=DEFAULT_METRICS, n: int = 10000,
                   seed: int = 0, cache_dir=None, batch_size: int = 256, source: str | None = None) -> dict:
    """evaluate() for a bare generator module and its family."""
    if n < 2:
        raise GanforgeError(f"evaluation needs n >= 2 samples, got {n}")
    if hasattr(dataset, "points"):
        points = generate_points(G, family, n, seed, device)
        coverage = mode_coverage_2d(points, dataset.modes.numpy(), dataset.std)
        return {"modes": coverage.modes_captured, "num_modes": coverage.num_modes,
                "high_quality": coverage.high_quality_share, "reverse_kl": coverage.reverse_kl,
                "extractor": "mode-coverage-2d", "n": n, "seed": seed}
    if not hasattr(dataset, "images"):
        raise DataError(f"evaluation needs an in-memory image or point dataset, got {type(dataset).__name__} "
                        "(set data.in_memory=true)")
    if extractor is None:
        raise GanforgeError("image evaluation needs a feature extractor")
    metrics = tuple(metrics)
    conditions, real_conditions, baseline_metrics = {}, {}, metrics
    if "acc" in metrics:
        conditions = sample_conditions(G, family, n, seed, device)
        check_accuracy_possible(conditions, extractor, G)
        # Real vs real: the classifier's own accuracy on the baseline digits (a ceiling); real
        # digits have no latent code, so an InfoGAN run's acc has no baseline.
        if "labels" in conditions and getattr(dataset, "labels", None) is not None:
            _, base_idx, _ = real_sets(len(dataset.images), n, seed)
            real_conditions = {"labels": dataset.labels[torch.from_numpy(base_idx)].cpu().numpy()}
        else:
            baseline_metrics = tuple(m for m in metrics if m != "acc")
    real = reference_features(dataset, extractor, n, seed, source, cache_dir, batch_size)
    result = _generated_metrics(metrics, real["reference"], G, family, device, extractor, n, seed,
                                int(dataset.images.shape[-1]), batch_size, conditions)
    baseline = compute_metrics(baseline_metrics, real["reference"], real["baseline"], real["baseline_probs"],
                               real_conditions)
    return {**result, "extractor": extractor.name, "n": n, "n_real": int(len(real["reference"])), "seed": seed,
            "baseline": {**baseline, "kind": str(real["baseline_kind"])}}


def _generated_metrics(metrics, reference, G, family, device, extractor, n, seed, image_size, batch_size,
                       conditions=None) -> dict:
    """The metrics of n generated images, each batch's features extracted as it is generated.
    FID alone needs only running float64 sums; the other metrics keep every feature vector."""
    if not metrics:
        return {}
    if all(name == "fid" for name in metrics):
        statistics = generated_statistics(G, family, device, extractor, n, seed, image_size, batch_size)
        return {"fid": frechet_distance(*feature_statistics(reference), *statistics)}
    features, probs = [], []
    for images in generated_batches(G, family, n, seed, device, image_size, batch_size):
        batch_features, batch_probs = extractor.extract(images, batch_size=batch_size)
        features.append(batch_features)
        probs.append(batch_probs)
    return compute_metrics(metrics, reference, np.concatenate(features), np.concatenate(probs), conditions)


def generated_statistics(G, family, device, extractor, n: int, seed: int, image_size: int,
                         batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """FID statistics (mean, covariance) of n generated images, seeded like generate_uint8: each
    batch is extracted as soon as it is generated and only running float64 sums are kept."""
    running = RunningStatistics()
    for images in generated_batches(G, family, n, seed, device, image_size, batch_size):
        running.add(extractor.extract(images, batch_size=batch_size)[0])
    return running.statistics()


def format_table(result: dict) -> str:
    """One line per number, each naming the extractor that produced it."""
    baseline = result.get("baseline", {})
    values = [k for k, v in result.items() if isinstance(v, (int, float)) and k not in ("n", "n_real", "seed")]
    head = f"{'metric':<12}{'generated':>14}{'real-vs-real':>14}   extractor"
    lines = [head]
    for name in values:
        base = baseline.get(name)
        base_text = f"{base:>14.6g}" if isinstance(base, (int, float)) else f"{'-':>14}"
        lines.append(f"{name:<12}{result[name]:>14.6g}{base_text}   {result['extractor']}")
    footer = f"n={result['n']} generated"
    if "n_real" in result:
        footer += f", {result['n_real']} real; real-vs-real baseline: {baseline.get('kind')} sets"
    lines.append(footer + f", seed {result['seed']}")
    if "code_classes" in result:
        lines.append("categorical code -> class (best matching): "
                     + ", ".join(f"{code}->{cls}" for code, cls in enumerate(result["code_classes"])))
    return "\n".join(lines)


def append_jsonl(path: Path, record: dict) -> None:
    """Add one JSON line to `path` (the whole file is rewritten atomically)."""
    path = Path(path)
    previous = safe_files.read_bytes(path, safe_files.MAX_LOG, path.parent) if os.path.lexists(path) else b""
    if previous and not previous.endswith(b"\n"):
        previous += b"\n"
    atomic_write_bytes(path, previous + (json_line(record) + "\n").encode())
