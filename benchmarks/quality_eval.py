"""Score trained runs on the bundled digits the way issue 13 states its targets, one line per run.

    python benchmarks/quality_eval.py RUN [RUN ...] [--classifier runs/benchmarks/classifier-mnist]
                                      [--n 2000] [--seed 0] [--no-ema]

Classifier-FID, KID, precision/recall (n generated against n real digits, the real set
seeded as in `ganforge eval`), and for conditional runs the conditional accuracy (n/10 samples per
class labelled by the same classifier). The real-vs-real disjoint baseline at n=2000 is about 1.65.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ganforge import api
from ganforge.data import load_dataset
from ganforge.metrics.conditional import conditional_accuracy
from ganforge.metrics import get_extractor
from ganforge.metrics.evaluate import evaluate
from ganforge.training.checkpoint import checkpoint_dirs, load_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--classifier", default="runs/benchmarks/classifier-mnist")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ema", action="store_true", help="score the raw G even when an EMA was kept")
    parser.add_argument("--every-checkpoint", action="store_true",
                        help="score every kept checkpoint, the raw G and (when kept) its EMA")
    args = parser.parse_args()
    extractor = get_extractor(f"classifier:{args.classifier}")
    digits = load_dataset("mnist", image_size=32)
    for run in args.runs:
        if args.every_checkpoint:
            for step_dir in checkpoint_dirs(Path(run)):
                tensors, _, meta = load_checkpoint(step_dir, with_state=False)
                for which in ("G", "G_ema"):
                    if which in tensors:
                        g = api.load(run)
                        g.G.load_state_dict(tensors[which])
                        g.step = int(meta["step"])
                        score(g, f"{run} {which}", digits, extractor, args)
        else:
            score(api.load(run, ema=not args.no_ema), run, digits, extractor, args)


def score(g, run: str, digits, extractor, args) -> None:
    result = evaluate(g, digits, extractor, ("fid", "kid", "pr"), n=args.n, seed=args.seed)
    line = {"run": run, "step": g.step, "fid": round(result["fid"], 2), "kid": round(result["kid"], 3),
            "precision": round(result["precision"], 3), "recall": round(result["recall"], 3)}
    if g.conditional:
        line["cond_acc"] = round(conditional_accuracy(
            g, lambda images: extractor.extract(images)[1], n_per_class=args.n // g.num_classes,
            seed=args.seed), 4)
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
