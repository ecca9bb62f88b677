"""Mode coverage benchmarks (VEEGAN, PacGAN): the 2-D ring of 8 and grid of 25 Gaussians with the
`gan-2d` recipe, and Stacked MNIST (1000 modes) with a DCGAN recipe at 3 channels. Writes a
markdown block with mean +- standard error over seeds.

    python benchmarks/mode_coverage.py [--seeds 10] [--steps-2d 5000] [--variants-2d A;B] [--stacked-seeds 3]
        [--stacked-steps 5000] [--stacked-recipe dcgan] [--only ring8,grid25,stacked]
        [--classifier classifiers/mnist] [--classifier-epochs 15] [--work DIR] [--out FILE.md]

2-D: `gan-2d` as is, with the saturating G loss, and the `wgan-gp-2d` recipe (--variants-2d); each
seed trains a run, draws 2,500 samples and counts modes with >= 1 high-quality sample
(within 3 std). Stacked MNIST: 26,000 samples, each channel labelled by the MNIST classifier
(trained and saved to --classifier when absent); modes covered and KL(p_gen || uniform). The
bundled set has 5k digits, so the classifier's held-out accuracy and the same count on 26,000
real Stacked MNIST images (the ceiling) are printed beside the results.
"""

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ganforge import api
from ganforge.config import resolve
from ganforge.data import load_dataset
from ganforge.metrics.classifier import load_classifier, save_classifier, train_classifier
from ganforge.metrics.evaluate import generate_points, generate_uint8
from ganforge.metrics.extractors import ClassifierExtractor
from ganforge.metrics.modes import mode_coverage_2d, stacked_mnist_modes


def mean_se(values) -> str:
    values = np.asarray(values, dtype=np.float64)
    mean = values.mean()
    # Three significant digits, but never an exponent: 999.67 modes reads 999.7, not 1e+03.
    shown = f"{mean:.1f}" if abs(mean) >= 100 else f"{mean:.3g}"
    if len(values) < 2:
        return shown
    return f"{shown} ± {values.std(ddof=1) / math.sqrt(len(values)):.2g}"


# The 2-D rows, each a recipe and overrides: the `gan-2d` recipe (MLP G and D) as is, with the
# minimax (saturating) G loss, and `wgan-gp-2d` (WGAN-GP's critic on the same networks with the
# authors' toy settings: 5 critic steps, penalty 0.1).
EMA_2D = ["train.ema=true", "train.ema_half_life_kimg=20"]
VARIANTS_2D = {
    "gan-2d": ("gan-2d", []),
    "gan-2d, saturating": ("gan-2d", ["family.loss=saturating"]),
    "wgan-gp-2d": ("wgan-gp-2d", []),
    # Mode-collapse remedies on the same networks: PacGAN packing and minibatch stddev in D.
    "gan-2d, pack 2": ("gan-2d", ["discriminator.pack=2"]),
    "gan-2d, pack 4": ("gan-2d", ["discriminator.pack=4"]),
    "gan-2d, mbstd 4": ("gan-2d", ["discriminator.mbstd_group=4"]),
    # Sharper samples: an EMA of G (half-life 20 kimg, ~80 steps at batch 256), alone, with R1 on
    # reals (gamma 0.1: the mixtures span a few units) or with minibatch stddev.
    "gan-2d, ema": ("gan-2d", EMA_2D),
    "gan-2d, ema + r1": ("gan-2d", EMA_2D + ["family.r1_gamma=0.1"]),
    "gan-2d, ema + mbstd 4": ("gan-2d", EMA_2D + ["discriminator.mbstd_group=4"]),
    # Tighter modes: both rates fall linearly to ~0 over the second half of the run.
    "gan-2d, ema + r1 + decay": ("gan-2d", EMA_2D + ["family.r1_gamma=0.1", "optim.decay_start=0.5"]),
    "wgan-gp-2d, ema": ("wgan-gp-2d", EMA_2D),
    "wgan-gp-2d, ema + decay": ("wgan-gp-2d", EMA_2D + ["optim.decay_start=0.5"]),
}


def run_2d(source: str, variant: str, seeds: list[int], steps: int, samples: int, work: Path) -> tuple[str, float]:
    start = time.perf_counter()
    mixture = load_dataset(source, toy_samples=10)
    rows = []
    for seed in seeds:
        recipe, sets = VARIANTS_2D[variant]
        cfg = resolve(recipe, [f"data.source={source}", f"train.seed={seed}", f"train.steps={steps}",
                                 "train.progress=false", f"train.ckpt_every={steps}", f"train.sample_every={steps}",
                                 *sets])
        name = variant.replace(", ", "-")
        g = api.load(api.train(cfg, out=work / f"{source}-{name}-seed{seed}"))
        points = generate_points(g.G, g.family, samples, seed, g.device)
        rows.append(mode_coverage_2d(points, mixture.modes.numpy(), mixture.std))
    seconds = time.perf_counter() - start
    for seed, r in zip(seeds, rows):  # every seed, for the notes
        print(f"per-seed | {source} | {variant} | seed {seed} | {r.modes_captured} / {r.num_modes} | "
              f"{100 * r.high_quality_share:.1f} | {r.reverse_kl:.3f}", flush=True)
    line = (f"| {source} | {variant} | {len(seeds)} | {steps} | {mean_se([r.modes_captured for r in rows])} "
            f"/ {rows[0].num_modes} | {mean_se([100 * r.high_quality_share for r in rows])} "
            f"| {mean_se([r.reverse_kl for r in rows])} | {seconds:.0f} |")
    return line, seconds


def classifier_extractor(path: Path, epochs: int) -> tuple[ClassifierExtractor, float]:
    if not (path / "classifier.json").is_file():
        mnist = load_dataset("mnist", image_size=28)
        model, accuracy = train_classifier(mnist, epochs=epochs, seed=0)
        save_classifier(model, {"held_out_accuracy": accuracy, "dataset": mnist.name, "epochs": epochs}, path)
    model, meta = load_classifier(path)
    return ClassifierExtractor(model, meta, source=str(path)), float(meta["held_out_accuracy"])


def run_stacked(recipe: str, seeds: list[int], steps: int, samples: int, extractor, work: Path,
                extra_sets: list[str]) -> tuple[list[str], float]:
    start = time.perf_counter()
    lines, results = [], []
    for seed in seeds:
        cfg = resolve(recipe, [f"train.seed={seed}", f"train.steps={steps}", "data.channels=3",
                               "train.progress=false", f"train.ckpt_every={steps}", f"train.sample_every={steps}",
                               *extra_sets], data="stacked-mnist")
        g = api.load(api.train(cfg, out=work / f"stacked-{recipe}-seed{seed}"))
        images = generate_uint8(g.G, g.family, samples, seed, g.device, g.data_shape[-1])
        results.append(stacked_mnist_modes(images, extractor))
        print(f"stacked-mnist seed {seed}: {results[-1].modes_covered} / 1000 modes, "
              f"KL {results[-1].reverse_kl:.4f}", flush=True)
    seconds = time.perf_counter() - start
    model = ", ".join([recipe, *extra_sets])
    per_seed = "; ".join(f"seed {s}: {r.modes_covered}, {r.reverse_kl:.4f}" for s, r in zip(seeds, results))
    lines.append(f"| stacked-mnist | {model} | {len(seeds)} | {steps} | "
                 f"{mean_se([r.modes_covered for r in results])} / 1000 | "
                 f"{mean_se([r.reverse_kl for r in results])} | {seconds:.0f} |")
    lines.append(f"| (per seed: modes, KL) | {per_seed} | | | | | |")
    return lines, seconds


def real_ceiling(samples: int, image_size: int, extractor) -> str:
    real = load_dataset("stacked-mnist", image_size=image_size, channels=3, seed=0)
    images = real.images[:samples]
    result = stacked_mnist_modes(images, extractor)
    return (f"| stacked-mnist | real data ({len(images)} images: the ceiling) | - | - | "
            f"{result.modes_covered} / 1000 | {result.reverse_kl:.3g} | - |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per 2-D mixture")
    parser.add_argument("--steps-2d", type=int, default=5000)
    parser.add_argument("--variants-2d", default=";".join(VARIANTS_2D),
                        help=f"';'-separated, from: {'; '.join(VARIANTS_2D)}")
    parser.add_argument("--samples-2d", type=int, default=2500)
    parser.add_argument("--stacked-seeds", type=int, default=3)
    parser.add_argument("--stacked-steps", type=int, default=5000)
    parser.add_argument("--stacked-samples", type=int, default=26000)
    parser.add_argument("--stacked-recipe", default="dcgan")
    parser.add_argument("--stacked-set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="extra overrides for the Stacked MNIST runs")
    parser.add_argument("--only", default="ring8,grid25,stacked")
    parser.add_argument("--classifier", default="classifiers/mnist",
                        help="MNIST classifier directory (trained and saved there when absent)")
    parser.add_argument("--classifier-epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", help="where the runs go (default: a temporary folder)")
    parser.add_argument("--out", help="also write the markdown block to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    parts = {p.strip() for p in args.only.split(",") if p.strip()}

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(args.work or scratch)
        block = []
        two_d = [m for m in ("ring8", "grid25") if m in parts]
        if two_d:
            block += [f"2-D mixtures: {args.samples_2d} samples per seed, mean ± standard error over seeds.", "",
                      "| mixture | recipe | seeds | steps | modes | high-quality % | reverse KL | seconds |",
                      "|---|---|---|---|---|---|---|---|"]
            for mixture in two_d:
                for variant in args.variants_2d.split(";"):
                    block.append(run_2d(mixture, variant.strip(), list(range(args.seeds)), args.steps_2d,
                                        args.samples_2d, work)[0])
            block.append("")
        if "stacked" in parts:
            extractor, accuracy = classifier_extractor(Path(args.classifier), args.classifier_epochs)
            lines, _ = run_stacked(args.stacked_recipe, list(range(args.stacked_seeds)), args.stacked_steps,
                                   args.stacked_samples, extractor, work, args.stacked_set)
            size = resolve(args.stacked_recipe, args.stacked_set, data="stacked-mnist").data.image_size
            block += [f"Stacked MNIST: {args.stacked_samples} samples per seed, each channel labelled by "
                      f"{extractor.name} (held-out accuracy {accuracy:.4f} on the bundled 5k digits).", "",
                      "| data | model | seeds | steps | modes | KL to uniform | seconds |",
                      "|---|---|---|---|---|---|---|",
                      *lines, real_ceiling(args.stacked_samples, size, extractor), ""]
    text = "\n".join(block)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
