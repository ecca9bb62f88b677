"""Many mutated run directories through sample / eval / train --resume / the explorer API, under a
memory and a time limit per case (issue 18; the CI test runs a few dozen of the same cases).

    python benchmarks/harden_fuzz.py --cases 500 --seed 0 --out benchmarks/results/harden_fuzz.json

Prints a line per failure as it happens and a summary of outcomes (ok, error-line, and the
failures traceback / hang / over-memory / crash) by operation; the JSON holds every failing case
with what it printed, so it can be replayed (`--replay FILE`).
"""
from __future__ import annotations

import argparse
import collections
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.reliability.run_fuzz import (FAILURES, Chooser, Worker, apply_case,  # noqa: E402
                                        draw_case, make_base)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=200)
    p.add_argument("--minutes", type=float, default=0, help="stop after this long (0: no limit)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-limit", type=float, default=120, help="seconds per case")
    p.add_argument("--memory-gib", type=float, default=4, help="RLIMIT_AS per case")
    p.add_argument("--budget", default="1GiB", help="GANFORGE_MEMORY_BUDGET inside the cases")
    p.add_argument("--out", help="JSON summary")
    p.add_argument("--replay", help="a JSON summary: run its failing cases again")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="harden-fuzz-") as folder:
        folder = Path(folder)
        print("training the base run and classifier...", flush=True)
        run, clf = make_base(folder / "base")
        worker = Worker(REPO, budget=args.budget)
        rng = random.Random(args.seed)
        replay = json.loads(Path(args.replay).read_text())["failures"] if args.replay else None
        total = len(replay) if replay else args.cases
        counts = collections.Counter()
        by_op = collections.defaultdict(collections.Counter)
        failures, started = [], time.monotonic()
        for i in range(total):
            if args.minutes and time.monotonic() - started > args.minutes * 60:
                break
            case = replay[i]["case"] if replay else draw_case(Chooser(rng=rng))
            work = folder / f"case-{i}"
            shutil.copytree(run, work / "run", symlinks=True)
            apply_case(case, work / "run", work / "outside")
            result = worker.run(case["op"], work / "run", clf, work / "scratch", args.time_limit,
                                int(args.memory_gib * (1 << 30)))
            counts[result["outcome"]] += 1
            by_op[case["op"]][result["outcome"]] += 1
            if result["outcome"] in FAILURES:
                failures.append({"case": case, **result})
                print(f"case {i}: {result['outcome']} on {case['op']} after "
                      f"{[(m['target'], m['kind']) for m in case['mutations']]}", flush=True)
            shutil.rmtree(work, ignore_errors=True)
            if (i + 1) % 25 == 0:
                print(f"{i + 1} cases: {dict(counts)}", flush=True)
        worker.close()
    tried = sum(counts.values())
    summary = {"cases": tried, "seed": args.seed, "time_limit_s": args.time_limit,
               "memory_limit_gib": args.memory_gib, "budget": args.budget,
               "outcomes": dict(counts), "by_op": {k: dict(v) for k, v in by_op.items()},
               "minutes": round((time.monotonic() - started) / 60, 1), "failures": failures}
    print(f"{tried} cases in {summary['minutes']} min: {dict(counts)}")
    for op, c in sorted(by_op.items()):
        print(f"  {op:<8} {dict(c)}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
