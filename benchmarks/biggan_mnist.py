"""BigGAN on the bundled MNIST digits: the full recipe and one ablation per technique, trained at
the same budget, scored with the domain classifier; plus the truncation curve of the full model.

    python benchmarks/biggan_mnist.py [--steps 2000] [--rows full,no-ema,...] [--n 2000]
        [--runs runs/bench-biggan-mnist] [--classifier DIR] [--out docs/img] [--seed 0]

Writes OUT/biggan_mnist.md (the table), OUT/biggan_mnist_truncation.png (and .json). Finished
runs in RUNS are reused, so an interrupted benchmark continues where it stopped; the classifier is
trained once (held-out accuracy printed) unless --classifier names one.

Scores: classifier-FID (FID on the classifier's penultimate features, 'n' generated vs 'n' real
digits; comparable only within this table, so the real-vs-real FID of two disjoint real sets of
the same size is printed too), the classifier score (Inception-Score formula on its
probabilities) and conditional accuracy (share of samples classified as the class they were
drawn for, classes balanced).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ganforge import api
from ganforge.config import resolve
from ganforge.data import load_dataset
from ganforge.explore.truncation_sweep import (balanced_labels, classifier_scorer, format_table,
                                               parse_thresholds, plot_truncation_curve, truncation_sweep)
from ganforge.explore.standing import standing_stats_
from ganforge.images import to_uint8
from ganforge.metrics import ClassifierExtractor, fid_from_features, load_classifier, save_classifier, train_classifier
from ganforge.training import checkpoint as ckpt

RECIPE = "biggan-mnist"
ROWS = {  # name: (what changes, --set overrides)
    "full": ("BigGAN, every technique on", []),
    "no-ema": ("no G EMA (samples from G itself)", ["train.ema=false"]),
    "no-ortho": ("no orthogonal regularization", ["family.ortho_beta=0"]),
    "no-skip-z": ("no skip-z: all of z to the first linear layer", ["generator.hierarchical=false"]),
    "no-shared": ("no shared embedding: one class embedding per block", ["generator.shared_embedding=false"]),
    "no-attention": ("no self-attention in G or D",
                     ["generator.attention_resolution=0", "discriminator.attention_resolution=0"]),
    "no-sn": ("no spectral norm in G or D", ["generator.spectral_norm=false", "discriminator.spectral_norm=false"]),
}
DEFAULT_ROWS = "full,no-ema,no-ortho,no-skip-z,no-shared"


def classifier(path: str | None, runs: Path, seed: int) -> ClassifierExtractor:
    target = Path(path) if path else runs / "classifier"
    if not (target / "classifier.json").is_file():
        if path:
            raise SystemExit(f"no classifier at {path}")
        start = time.perf_counter()
        model, accuracy = train_classifier(load_dataset("mnist", image_size=28), seed=seed)
        save_classifier(model, {"held_out_accuracy": accuracy, "dataset": "mnist-5k (bundled)"}, target)
        print(f"trained the classifier in {time.perf_counter() - start:.0f} s: held-out accuracy {accuracy:.4f}")
    model, meta = load_classifier(target)
    return ClassifierExtractor(model, meta, source=str(target))


def finished(run: Path, steps: int) -> bool:
    dirs = ckpt.checkpoint_dirs(run) if (run / "config.json").is_file() else []
    return bool(dirs) and dirs[-1].name == f"step-{steps:08d}"


def train_row(name: str, runs: Path, steps: int, seed: int, threads: int) -> tuple[Path, float | None]:
    run = runs / name
    timing = run / "bench-minutes.json"
    if finished(run, steps):
        return run, json.loads(timing.read_text())["minutes"] if timing.is_file() else None
    sets = ROWS[name][1] + [f"train.steps={steps}", f"train.seed={seed}", f"train.threads={threads}",
                            "train.progress=false"]
    start = time.perf_counter()
    if (run / "config.json").is_file() and ckpt.checkpoint_dirs(run):
        api.resume(run, {"train": {"steps": steps}})
    else:
        api.train(resolve(RECIPE, sets), out=run)
    minutes = (time.perf_counter() - start) / 60
    timing.write_text(json.dumps({"minutes": minutes}) + "\n")
    return run, minutes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=2000, help="G updates per run (the recipe's 2000)")
    p.add_argument("--rows", default=DEFAULT_ROWS, help=f"comma-separated, from {', '.join(ROWS)}")
    p.add_argument("--n", type=int, default=2000, help="generated and real images per score (<= 2500)")
    p.add_argument("--runs", default="runs/bench-biggan-mnist")
    p.add_argument("--classifier", help="a saved classifier directory (default: train one into RUNS)")
    p.add_argument("--out", default="docs/img")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads per run; 0: torch's default")
    p.add_argument("--standing-stats", type=int, default=0, metavar="BATCHES",
                   help="recompute G's BatchNorm statistics from this many batches before scoring")
    p.add_argument("--truncation", default="0.25,0.5,0.75,1.0,1.5,2.0,none")
    args = p.parse_args()
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    runs, out = Path(args.runs), Path(args.out)
    runs.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    if args.threads:
        torch.set_num_threads(args.threads)

    extractor = classifier(args.classifier, runs, args.seed)
    real = load_dataset("mnist", image_size=resolve(RECIPE).data.image_size)
    order = torch.from_numpy(np.random.default_rng(args.seed).permutation(len(real.images)))
    real_a, real_b = real.images[order[:args.n]], real.images[order[args.n:2 * args.n]]
    score = classifier_scorer(extractor, real_a)
    baseline = fid_from_features(extractor.extract(real_a)[0], extractor.extract(real_b)[0])
    real_scores = score(real_b, real.labels[order[args.n:2 * args.n]])

    results = []
    for name in rows:
        run, minutes = train_row(name, runs, args.steps, args.seed, args.threads)
        g = api.load(run)
        if args.standing_stats:
            standing_stats_(g.G, g.family, args.standing_stats, seed=args.seed)
        labels = balanced_labels(args.n, g.num_classes)
        scores = score(to_uint8(g.sample(args.n, seed=args.seed + 1, labels=labels)), labels)
        results.append({"row": name, "change": ROWS[name][0], "minutes": minutes, **scores})
        print(f"{name:<13} FID {scores['fid']:8.3f}  IS {scores['is']:6.3f}  acc {scores['accuracy']:.4f}"
              + (f"  ({minutes:.1f} min)" if minutes is not None else "  (reused)"))

    lines = [
        f"BigGAN on the bundled MNIST digits (`{RECIPE}`), {args.steps} G steps per run, seed {args.seed}; "
        f"{args.n} samples (classes balanced) vs {args.n} real digits.",
        f"Features: {extractor.name}. Real vs real (two disjoint sets of {args.n}): FID {baseline:.3f}, "
        f"IS {real_scores['is']:.3f}, accuracy {real_scores['accuracy']:.4f}.",
        "",
        "| run | change | classifier-FID | classifier score | conditional accuracy | train min |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        minutes = "reused" if r["minutes"] is None else f"{r['minutes']:.1f}"
        lines.append(f"| {r['row']} | {r['change']} | {r['fid']:.3f} | {r['is']:.3f} | {r['accuracy']:.4f} | {minutes} |")

    if "full" in rows:
        g = api.load(runs / "full")
        sweep = truncation_sweep(g, parse_thresholds(args.truncation), score, n=args.n, seed=args.seed + 1,
                                 standing_stats=args.standing_stats)
        png = out / "biggan_mnist_truncation.png"
        plot_truncation_curve(sweep, png, title=f"biggan-mnist, {args.steps} steps: {extractor.name}")
        png.with_suffix(".json").write_text(json.dumps({"extractor": extractor.name, "n": args.n,
                                                        "rows": sweep}, indent=2) + "\n")
        lines += ["", "Truncation sweep of the full model (the same latents at each threshold):", "",
                  format_table(sweep), "", f"![truncation curve]({png.name})"]
    table = "\n".join(lines) + "\n"
    (out / "biggan_mnist.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
