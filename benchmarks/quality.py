"""The quality benchmark of issue 13: every recipe on the bundled digits, several seeds, mean ± std.

    python benchmarks/quality.py [--recipes gan,dcgan,...] [--seeds 0,1,2] [--steps-scale 1.0]
                                 [--steps dcgan=8000,...] [--n 2000] [--classifier DIR]
                                 [--set SECTION.KEY=VALUE ... --label NAME]
                                 [--out benchmarks/results/quality] [--work runs/benchmarks/quality]
                                 [--threads 1] [--device cpu] [--watch-ema]

For each recipe and seed: train for the recipe's budget (its own train.steps, generator updates; critic
families take more D steps per G step, so images shown and wall time are reported beside each
row), then score the latest generator (EMA weights where kept) the way `ganforge eval` does:
classifier-FID, KID and precision/recall of --n samples against --n real digits, with a disjoint
real-vs-real baseline at the same size (seed 0 for the real sets, so every row meets the same
reference); `acc` (conditional accuracy by class) for conditional recipes and the categorical
code's agreement with the class for InfoGAN; SGAN's accuracy on the digits whose labels it never
saw. One JSON line per (recipe, seed) in OUT/quality.jsonl: a rerun skips the pairs already there
(delete a line to redo it). OUT/quality.md is rewritten after every pair: mean ± std per recipe
over the seeds done, with the machine, the date and the command. Sample grids: OUT/grids/; the
trained runs: WORK/RECIPE-sSEED (kept, for `ganforge eval` / `sample` later).

--watch-ema keeps an EMA of G beside a recipe that has none: the EMA reads G's weights and
changes nothing else (G and D train bitwise the same), so one run scores both the recipe (raw G,
row RECIPE) and the recipe with an EMA (row RECIPE+ema).

The classifier: `python benchmarks/classifier_mnist.py --save runs/benchmarks/classifier-mnist`.
--steps-scale shrinks the step budgets only: PGGAN's growth schedule (in images) stays the
recipe's, so a scaled-down pggan-mnist run stops at a low resolution (scored after resizing).
Wall times depend on the machine and on what else runs on it: read them with the machine line.
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from ganforge import api, run
from ganforge.config import resolve
from ganforge.explore.accuracy import run_accuracy
from ganforge.metrics import get_extractor
from ganforge.metrics.evaluate import append_jsonl, evaluate
from ganforge.sampling import write_samples

RECIPES = ["gan", "dcgan", "dcgan-paper", "wgan", "wgan-gp", "cgan", "acgan", "infogan", "sgan", "began",
           "pggan-mnist", "biggan-mnist", "biggan-deep-mnist"]
COLUMNS = [("fid", "classifier-FID", 2), ("kid", "KID", 4), ("precision", "precision", 3),
           ("recall", "recall", 3), ("acc", "cond. acc", 3), ("code_agreement", "code agreement", 3),
           ("sgan_accuracy", "SGAN held-out acc", 3), ("images_shown", "images shown", 0),
           ("wall_s", "wall s", 0)]


def machine() -> str:
    """CPU model, the flags that matter for speed here, threads and device."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    shown = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags]
    return f"{model} ({', '.join(shown) or 'no AVX flags read'}), torch {torch.__version__}"


def done_pairs(path: Path) -> set[tuple[str, int]]:
    if not path.is_file():
        return set()
    return {(r["recipe"], r["seed"]) for r in map(json.loads, path.read_text().splitlines())}


def parse_steps(text: str) -> dict[str, int]:
    pairs = [item.split("=") for item in text.split(",") if item]
    return {name: int(value) for name, value in pairs}


def row_name(recipe: str, label: str) -> str:
    """A recipe's row, or a variant's (the recipe with --set overrides, named by --label)."""
    return f"{recipe}+{label}" if label else recipe


def train_and_score(recipe: str, seed: int, steps: int, args, extractor, out: Path) -> list[dict]:
    """Train one (recipe, seed) pair and score it: one record, or two with --watch-ema (the raw G
    under the row itself, the EMA kept beside it under ROW+ema)."""
    row = row_name(recipe, args.label)
    run_dir = Path(args.work) / f"{row}-s{seed}"
    if run_dir.exists():  # an unfinished earlier attempt: start the pair again
        shutil.rmtree(run_dir)
    watch = ["train.ema=true"] if args.watch_ema else []
    cfg = resolve(recipe, [f"train.steps={steps}", f"train.seed={seed}", "train.progress=false",
                           f"train.ckpt_every={steps}", f"train.sample_every={max(1, steps // 4)}",
                           f"train.threads={args.threads}", f"train.device={args.device}", *args.set, *watch])
    start = time.perf_counter()
    api.train(cfg, out=run_dir)
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in run.metrics_path(run_dir).read_text().splitlines()]
    shown = [r["images_seen"] for r in records if "images_seen" in r]
    common = {"seed": seed, "steps": steps, "images_shown": shown[-1] if shown else None, "wall_s": round(wall, 1)}
    summary = run.read_data_summary(run_dir) or {}
    if "computes" in summary:  # what train.precision=auto chose on this machine
        common["computes"] = summary["computes"]
    m_global = [r["m_global"] for r in records if r.get("m_global") is not None]
    if m_global:  # BEGAN's convergence measure: should fall over training
        common["m_global_first_min_last"] = [m_global[0], min(m_global), m_global[-1]]
    if args.watch_ema:
        # An EMA only reads G's weights: G and D train bitwise as without it, so the raw G is the
        # row's own result and the EMA a free second row.
        return [score(api.load(run_dir, device=args.device, ema=False), row, args.set, common, run_dir, args, extractor, out),
                score(api.load(run_dir, device=args.device), f"{row}+ema", [*args.set, *watch], common, run_dir,
                      args, extractor, out)]
    return [score(api.load(run_dir, device=args.device), row, args.set, common, run_dir, args, extractor, out)]


def score(g, row: str, overrides: list[str], common: dict, run_dir: Path, args, extractor, out: Path) -> dict:
    metrics = ["fid", "kid", "pr"]
    if g.conditional or getattr(g.family, "categorical", 0):
        metrics.append("acc")
    result = evaluate(g, run.dataset(g.cfg), extractor, metrics, n=args.n, seed=0, source=g.cfg.data.source)
    record = {"recipe": row, "overrides": overrides, **common,
              **{k: result[k] for k in ("fid", "kid", "precision", "recall")}}
    for key in ("acc", "code_agreement", "code_classes"):
        if key in result:
            record[key] = result[key]
    record["acc_by_class"] = [result[f"acc_{c}"] for c in range(g.num_classes) if f"acc_{c}" in result] or None
    if g.cfg.family.get("name") == "sgan":
        record["sgan_accuracy"] = run_accuracy(run_dir, device=args.device)
    record.update(baseline_fid=result["baseline"]["fid"], extractor=result["extractor"], n=args.n,
                  machine=machine(), date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  command=" ".join(shlex.quote(a) for a in sys.argv))
    grids = out / "grids"
    grids.mkdir(parents=True, exist_ok=True)
    write_samples(g, 100 if g.conditional else 64, 0, grids / f"{row}-s{run_dir.name.rsplit('-s', 1)[1]}.png",
                  "png", class_grid=g.conditional)
    return record


def mean_std(values, digits: int) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def table(records: list[dict], recipes: list[str]) -> str:
    """Mean ± std (sample std over seeds) per recipe, in the order asked for."""
    head = "| recipe | seeds | steps | " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 3)]
    for recipe in recipes + sorted({r["recipe"] for r in records} - set(recipes)):
        rows = [r for r in records if r["recipe"] == recipe]
        if not rows:
            continue
        seeds = ",".join(str(r["seed"]) for r in sorted(rows, key=lambda r: r["seed"]))
        steps = ",".join(sorted({str(r["steps"]) for r in rows}))
        cells = [mean_std([r.get(key) for r in rows], digits) for key, _, digits in COLUMNS]
        lines.append(f"| {recipe} | {seeds} | {steps} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(path: Path, records: list[dict], recipes: list[str]) -> None:
    if not records:
        return
    last = records[-1]
    baseline = " / ".join(sorted({f"{r['baseline_fid']:.2f}" for r in records}))  # one value: same real sets
    lines = ["# Quality benchmark (issue 13)", "",
             f"Machine(s): {'; '.join(sorted({r['machine'] for r in records}))} (each row's in the JSONL). "
             f"Date of the last row: {last['date']}. Command: `{last['command']}`.",
             f"Scores: {last['n']} samples (seed 0, latest generator, EMA where kept) against {last['n']} real "
             f"digits, features of {last['extractor']}; real vs real (disjoint sets): FID {baseline}. "
             "Mean ± sample std over the seeds listed. Wall times are the machine's at the time "
             "(other jobs included), not a speed figure.", "", table(records, recipes), ""]
    path.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", default="", help="per-recipe budgets that replace the recipes' own train.steps, e.g. dcgan=8000")
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiply every budget (smoke tests)")
    parser.add_argument("--n", type=int, default=2000, help="generated and real samples per score")
    parser.add_argument("--classifier", default="runs/benchmarks/classifier-mnist")
    parser.add_argument("--out", default="benchmarks/results/quality")
    parser.add_argument("--work", default="runs/benchmarks/quality", help="where the runs are trained")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override for every recipe run (a variant: name its rows with --label)")
    parser.add_argument("--label", default="", help="rows are named RECIPE+LABEL (needed with --set)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--watch-ema", action="store_true",
                        help="keep an EMA of G beside each run: the raw G scores the row, the EMA a ROW+ema row")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)  # the scoring too, not only the training

    if args.set and not args.label:
        parser.error("--set makes a variant: name its rows with --label")
    recipes = [r for r in args.recipes.split(",") if r]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    # The stated budget is the recipe's own (a copy here went stale once: infogan's 5,000 after
    # its recipe moved to 2,000).
    budgets = {recipe: resolve(recipe).train.steps for recipe in recipes}
    budgets.update(parse_steps(args.steps))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "quality.jsonl"
    extractor = get_extractor(f"classifier:{args.classifier}", device=args.device)
    finished = done_pairs(log)
    rows = [row_name(r, args.label) for r in recipes]
    rows += [f"{row}+ema" for row in rows] if args.watch_ema else []
    for recipe, row in zip(recipes, rows[:len(recipes)]):
        for seed in seeds:
            if (row, seed) in finished:
                print(f"{row} seed {seed}: in {log}, skipped", flush=True)
                continue
            steps = max(1, round(budgets[recipe] * args.steps_scale))
            for record in train_and_score(recipe, seed, steps, args, extractor, out):
                append_jsonl(log, record)
                print(json.dumps({k: record[k] for k in ("recipe", "seed", "steps", "fid", "wall_s")}), flush=True)
            write_report(out / "quality.md", [json.loads(line) for line in log.read_text().splitlines()], rows)
    if log.is_file():
        write_report(out / "quality.md", [json.loads(line) for line in log.read_text().splitlines()], rows)
    print(f"table: {out / 'quality.md'}")


if __name__ == "__main__":
    main()
