"""One training run of a recipe with overrides, scored every 1,000 steps: the sweep behind the
default recipe's settings (issue 13).

    python benchmarks/recipe_sweep.py NAME STEPS [--recipe dcgan-paper] [SECTION.KEY=VALUE ...]
        [--classifier runs/benchmarks/classifier-mnist] [--out runs/sweep] [--log FILE.jsonl]

Trains on one thread with `train.eval_every=1000` (classifier-FID and precision/recall of 2,000
samples against 2,000 real digits, the classifier of benchmarks/classifier_mnist.py), then
prints and appends one JSON line: name, overrides, wall seconds and (step, FID, precision,
recall) at every evaluation.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from ganforge import api, run
from ganforge.config import resolve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("steps", type=int)
    parser.add_argument("sets", nargs="*", metavar="SECTION.KEY=VALUE")
    parser.add_argument("--recipe", default="dcgan-paper")
    parser.add_argument("--classifier", default="runs/benchmarks/classifier-mnist")
    parser.add_argument("--out", default="runs/sweep")
    parser.add_argument("--log", default="runs/sweep/sweep.jsonl")
    args = parser.parse_args()
    out = Path(args.out) / args.name
    shutil.rmtree(out, ignore_errors=True)
    cfg = resolve(args.recipe, [f"train.steps={args.steps}", "train.progress=false", "train.threads=1",
                                f"train.ckpt_every={args.steps}", "train.eval_every=1000",
                                f"eval.extractor=classifier:{Path(args.classifier).resolve()}",
                                'eval.metrics=["fid", "pr"]', "eval.n=2000", *args.sets])
    start = time.perf_counter()
    api.train(cfg, out=out)
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in run.metrics_path(out).read_text().splitlines()]
    evals = [(r["step"], round(r["eval/fid"], 2), round(r["eval/precision"], 3), round(r["eval/recall"], 3))
             for r in records if "eval/fid" in r]
    line = json.dumps({"name": args.name, "recipe": args.recipe, "sets": args.sets, "wall": round(wall),
                       "evals": evals})
    print(line)
    Path(args.log).parent.mkdir(parents=True, exist_ok=True)
    with open(args.log, "a") as log:
        log.write(line + "\n")


if __name__ == "__main__":
    main()
