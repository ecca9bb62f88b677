"""Data-efficient training on a small subset: the `dcgan` recipe on N of the bundled 5,000 digits,
with and without DiffAugment (and optionally ADA), every seed reported.

    python benchmarks/augment_small_data.py [--subset 500] [--steps 3000] [--seeds 0,1]
        [--variants "none;diffaugment"] [--n 2000] [--work DIR] [--out FILE.md]

Classifier-FID and KID use a LeNet-style classifier trained on all 5,000 bundled digits
(`ganforge.metrics.classifier`, seed 0). They are measured against the digits NOT in the training
subset, so a generator that memorised its N digits does not score as well as one that learned
digits. The real-vs-real line is the training subset itself against the same held-out digits.
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from ganforge import api
from ganforge import run as run_files
from ganforge.config import resolve
from ganforge.data import load_dataset
from ganforge.images import to_uint8
from ganforge.metrics import ClassifierExtractor, compute_metrics
from ganforge.metrics.classifier import load_classifier, save_classifier, train_classifier

VARIANTS = {
    "none": [],
    "diffaugment": ["train.augment=color,translation,cutout"],
    "diffaugment+ada": ["train.augment=color,translation,cutout", "train.ada_target=0.6"],
    "translation,cutout": ["train.augment=translation,cutout"],
}


def extractor_at(path: Path) -> ClassifierExtractor:
    if not (path / "classifier.json").is_file():
        model, accuracy = train_classifier(load_dataset("mnist", image_size=28), seed=0)
        save_classifier(model, {"held_out_accuracy": accuracy, "dataset": "mnist-5k (bundled)"}, path)
    model, meta = load_classifier(path)
    return ClassifierExtractor(model, meta, source=str(path))


def write_subset(n: int, seed: int, path: Path) -> np.ndarray:
    """A random subset of n bundled digits saved as .npz; returns the chosen indices."""
    digits = load_dataset("mnist", image_size=32)
    chosen = np.sort(np.random.default_rng(seed).permutation(len(digits.images))[:n])
    images = digits.images[torch.from_numpy(chosen)].numpy()  # [n, 1, 32, 32] uint8
    np.savez(path, images=images.transpose(0, 2, 3, 1), labels=digits.labels[torch.from_numpy(chosen)].numpy())
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=500)
    parser.add_argument("--subset-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--variants", default="none;diffaugment")
    parser.add_argument("--n", type=int, default=2000, help="samples per evaluation")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="extra overrides for every run")
    parser.add_argument("--work", default="runs/augment-small-data")
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    extractor = extractor_at(work / "classifier")
    subset_file = work / f"digits-{args.subset}.npz"
    chosen = write_subset(args.subset, args.subset_seed, subset_file)
    digits = load_dataset("mnist", image_size=32)
    held_out = np.setdiff1d(np.arange(len(digits.images)), chosen)
    held_features, _ = extractor.extract(digits.images[torch.from_numpy(held_out)])
    train_features, _ = extractor.extract(digits.images[torch.from_numpy(chosen)])
    floor = compute_metrics(["fid", "kid"], held_features, train_features, None)

    lines = [f"Features: {extractor.name}; {args.n} samples per model against the {len(held_out)} "
             f"digits outside the {args.subset}-digit training subset (subset seed {args.subset_seed}).", "",
             "| augmentation | seed | steps | images shown | classifier-FID | KID | final aug_p | wall s |",
             "|---|---|---|---|---|---|---|---|",
             f"| (the {args.subset} training digits themselves) | - | - | - | {floor['fid']:.2f} "
             f"| {floor['kid']:.4f} | - | - |"]
    print("\n".join(lines), flush=True)
    summary = {}
    for variant in [v.strip() for v in args.variants.split(";") if v.strip()]:
        for seed in [int(s) for s in args.seeds.split(",")]:
            cfg = resolve("dcgan", [f"data.source={subset_file}", f"train.seed={seed}", f"train.steps={args.steps}",
                                    "train.progress=false", f"train.ckpt_every={args.steps}",
                                    f"train.sample_every={args.steps}", f"train.threads={args.threads}",
                                    *VARIANTS[variant], *args.set])
            start = time.perf_counter()
            run = api.train(cfg, out=work / f"{variant}-seed{seed}")
            wall = time.perf_counter() - start
            g = api.load(run)
            features, _ = extractor.extract(to_uint8(g.sample(args.n, seed=seed + 1000)))
            m = compute_metrics(["fid", "kid"], held_features, features, None)
            log = [json.loads(line) for line in run_files.metrics_path(run).read_text().splitlines()]
            images = [r["images_seen"] for r in log if "images_seen" in r][-1]
            p = [r["aug_p"] for r in log if "aug_p" in r]
            summary.setdefault(variant, []).append(m["fid"])
            line = (f"| {variant} | {seed} | {args.steps} | {images} | {m['fid']:.2f} | {m['kid']:.4f} "
                    f"| {p[-1] if p else '-'} | {wall:.0f} |")
            lines.append(line)
            print(line, flush=True)
    lines.append("")
    for variant, fids in summary.items():
        sd = np.std(fids, ddof=1) if len(fids) > 1 else math.nan
        lines.append(f"- {variant}: classifier-FID mean {np.mean(fids):.2f} (std {sd:.2f}) over {len(fids)} seeds")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
