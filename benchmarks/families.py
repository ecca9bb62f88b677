"""Train every family of issue #4 on the bundled MNIST digits at one budget and tabulate them.

    python benchmarks/families.py [--steps 2000] [--families wgan,cgan,...] [--n 2000]
                                  [--classifier DIR] [--out benchmarks/results/families]

Each recipe runs with its own paper settings for `--steps` generator updates (critic families
take more D steps per G step; the table reports images shown and wall time so the cost is
visible). Metrics use a domain classifier's features (a LeNet-style network trained on the same
digits, `ganforge.metrics.classifier`): classifier-FID, KID and the classifier score (IS computed
on its probabilities), against the real digits, with a real-vs-real baseline row at the same
sample size. Conditional families also get the conditional accuracy (share of samples the
classifier assigns to the requested class); SGAN gets its discriminator's accuracy on the digits
whose labels it never saw. Writes `families.md` (the table) and `began_m_global.png` (BEGAN's
convergence measure over training) into --out.
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
from ganforge.explore.accuracy import run_accuracy
from ganforge.metrics.conditional import conditional_accuracy
from ganforge.images import to_uint8
from ganforge.metrics import ClassifierExtractor, compute_metrics, get_extractor
from ganforge.metrics.classifier import save_classifier, train_classifier

FAMILIES = ["wgan", "wgan-gp", "cgan", "acgan", "infogan", "sgan", "began"]
METRICS = ["fid", "kid", "is"]


def classifier(path: str | None, out: Path) -> ClassifierExtractor:
    """The extractor from --classifier, or one trained now on the bundled digits (and saved)."""
    if path:
        return get_extractor(f"classifier:{path}")
    digits = load_dataset("mnist", image_size=28)
    model, accuracy = train_classifier(digits, seed=0)
    target = out / "classifier"
    save_classifier(model, {"held_out_accuracy": accuracy, "dataset": "mnist-5k (bundled)"}, target)
    return ClassifierExtractor(model, {"held_out_accuracy": accuracy}, source=str(target))


def evaluate(g, extractor, real_features: np.ndarray, n: int, seed: int) -> dict[str, float]:
    """Metrics of one loaded generator against the real features (the only evaluation step, so a
    later `ganforge.metrics` evaluate function can replace it)."""
    fakes = to_uint8(g.sample(n, seed=seed))
    features, probs = extractor.extract(fakes)
    result = compute_metrics(METRICS, real_features, features, probs)
    if g.conditional:
        result["cond_acc"] = conditional_accuracy(g, lambda images: extractor.extract(images)[1],
                                                  n_per_class=max(1, n // g.num_classes), seed=seed)
    return result


def plot_m_global(run: Path, target: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    points = [(r["step"], r["m_global"]) for r in records if r.get("m_global") is not None]
    decays = [r["step"] for r in records if r.get("event") == "lr_scale"]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=120)
    ax.plot(*zip(*points), lw=1.2, marker="." if len(points) < 30 else None)
    for step in decays:
        ax.axvline(step, color="grey", ls=":", lw=1)
    ax.set_xlabel("generator step")
    ax.set_ylabel("M_global")
    ax.set_title("BEGAN convergence measure (dotted: learning rate halved)")
    fig.tight_layout()
    fig.savefig(target)
    plt.close(fig)
    return target


def fmt(value, digits=3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="generator updates per family")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--n", type=int, default=2000, help="samples per evaluation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classifier", help="a classifier directory (ganforge classifier / "
                        "benchmarks/classifier_mnist.py --save); default: train one now")
    parser.add_argument("--out", default="benchmarks/results/families")
    args = parser.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    extractor = classifier(args.classifier, out)
    digits = load_dataset("mnist", image_size=32)
    real_features, _ = extractor.extract(digits.images)
    # Real-vs-real at the same sample size: the floor the numbers below should be read against.
    order = np.random.default_rng(args.seed).permutation(len(real_features))
    half = min(args.n, len(order) // 2)
    baseline = compute_metrics(["fid", "kid"], real_features[order[:half]], real_features[order[half:2 * half]],
                               None)
    _, real_probs = extractor.extract(digits.images[torch.from_numpy(order[:half])])
    baseline.update(compute_metrics(["is"], None, None, real_probs))

    header = ("| family | steps | images shown | wall s | classifier-FID | KID | classifier score "
              "| cond. acc | notes |")
    rows = [f"Features: {extractor.name}; {args.n} samples per model; seed {args.seed}.", "",
            header, "|" + "---|" * 9,
            f"| real digits (two halves of {half}) | - | - | - | {fmt(baseline['fid'])} "
            f"| {fmt(baseline['kid'], 4)} | {fmt(baseline['is'])} | - | baseline |"]
    print("\n".join(rows), flush=True)
    for recipe in [f for f in args.families.split(",") if f]:
        cfg = resolve(recipe, [f"train.steps={args.steps}", f"train.seed={args.seed}",
                               "train.progress=false", f"train.ckpt_every={args.steps}",
                               f"train.sample_every={max(1, args.steps // 4)}"], data="mnist")
        run_dir = out / "runs" / recipe
        if run_dir.exists():
            import shutil
            shutil.rmtree(run_dir)
        start = time.perf_counter()
        run = api.train(cfg, out=run_dir)
        wall = time.perf_counter() - start
        g = api.load(run)
        m = evaluate(g, extractor, real_features, args.n, args.seed + 1)
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        images = [r["images_seen"] for r in records if "images_seen" in r][-1]
        notes = ""
        if recipe == "sgan":
            notes = f"D accuracy on unlabelled digits {run_accuracy(run):.3f}"
        if recipe == "began":
            notes = f"M_global curve: {plot_m_global(run, out / 'began_m_global.png').name}"
        row = (f"| {recipe} | {args.steps} | {images} | {wall:.0f} | {fmt(m['fid'])} | {fmt(m['kid'], 4)} "
               f"| {fmt(m['is'])} | {fmt(m.get('cond_acc'))} | {notes} |")
        rows.append(row)
        print(row, flush=True)
    (out / "families.md").write_text("\n".join(rows) + "\n")
    print(f"wrote {out / 'families.md'}")


if __name__ == "__main__":
    main()
