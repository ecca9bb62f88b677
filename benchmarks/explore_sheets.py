"""Write the explore sheets shown in the docs for a trained run.

    python benchmarks/explore_sheets.py RUN_DIR [--out docs/img] [--label K] [--threads 1]

Writes, under --out: explore-lerp.png and explore-slerp.png (the same seed pairs walked both
ways; conditional runs also walk from one class to another), explore-arithmetic.png (Radford et
al.'s a - b + c with group means), explore-truncation.png (the same seeds at several thresholds),
explore-directions.png (ink and brightness directions, then the two leading principal
directions; within class --label for conditional runs, whose z acts per class), and prints the
fit quality of each direction and the nearest-neighbour distance quantiles.
"""

import argparse
from pathlib import Path

import torch

from ganforge.api import load
from ganforge.explore.arithmetic import arithmetic, group_mean, jittered
from ganforge.explore.directions import (direction_rows, fit_attribute_direction,
                                         principal_directions, save_directions)
from ganforge.explore.interpolation import interpolation_rows
from ganforge.explore.nearest import memorization, run_training_data
from ganforge.explore.points import render, seed_points
from ganforge.explore.sheets import write_sheet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--out", default="docs/img")
    parser.add_argument("--label", type=int, default=None,
                        help="conditional runs: class for the directions (default 0)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    g = load(args.run)
    label = args.label if args.label is not None else (0 if g.conditional else None)

    pairs = [0, 1, 2, 3]
    labels = [1, 7, 3, 8] if g.conditional else None
    for spherical, name in ((False, "lerp"), (True, "slerp")):
        rows = interpolation_rows(g, pairs, args.steps, spherical, labels)
        names = [f"{a}->{b}" for a, b in zip(pairs, pairs[1:])]
        print("wrote", write_sheet(out / f"explore-{name}.png", rows, names))

    k = g.num_classes
    groups = [seed_points(g, s) for s in ([10, 11, 12], [13, 14, 15], [16, 17, 18])]
    rows = [torch.cat([render(g, p), render(g, group_mean(p, k))]) for p in groups]
    rows.append(render(g, jittered(arithmetic(*groups, num_classes=k), 8)))
    print("wrote", write_sheet(out / "explore-arithmetic.png", rows,
                               ["a | mean", "b | mean", "c | mean", "a - b + c"]))

    values = [None, 2.0, 1.0, 0.5, 0.25]
    seeds = list(range(20, 30))
    rows = [render(g, seed_points(g, seeds, truncation=v)) for v in values]
    print("wrote", write_sheet(out / "explore-truncation.png", rows,
                               ["none" if v is None else f"{v:g}" for v in values]))

    found = [fit_attribute_direction(g, a, n=2000, label=label) for a in ("ink", "brightness")]
    found.append(principal_directions(g, k=2, n=64, label=label))
    rows, names = [], []
    for d in found:
        save_directions(g.run_dir, d)
        print(f"{d.attribute}: scores {[round(float(s), 4) for s in d.scores]} "
              f"(held-out R^2 for attributes, eigenvalues for principal)")
        r, n = direction_rows(g, d, [40, 41], [-3, -2, -1, 0, 1, 2, 3], label=label)
        rows += r
        names += n
    print("wrote", write_sheet(out / "explore-directions.png", rows, names))

    report = memorization(g, run_training_data(g), n=500, k=3)
    print(report.summary())
    rows, names = report.sheet_rows(6)
    print("wrote", write_sheet(out / "explore-nearest.png", rows, names))


if __name__ == "__main__":
    main()
