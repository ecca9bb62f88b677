"""Speed of two settings of one recipe, measured on a host whose speed drifts.

Two `Trainer`s of the recipe are built in one process, A with the first list of overrides and B
with the second, and take turns: each trains `--turn` steps (`trainer.train(until=...)`, the
code path of `ganforge train`), then the other, for `--rounds` rounds after one round of
warm-up. Both see the machine at nearly the same moment, so a host that speeds up or slows down
by 2x between runs (shared CPUs) still gives a steady ratio. Prints images/s of each turn, then
the medians and the median B/A ratio with its range: report that ratio, not the images/s.

    python benchmarks/speed_ab.py --recipe began --a train.precision=fp32 --b train.precision=auto
    ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 python benchmarks/speed_ab.py --recipe dcgan \\
        --a train.precision=fp32 train.channels_last=true --b train.precision=bf16 train.channels_last=true

The environment caps (ONEDNN_MAX_CPU_ISA, ATEN_CPU_CAPABILITY, MKL_ENABLE_INSTRUCTIONS) make a
CPU with AMX run the kernels of an older one: an emulation, named as such in the output.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from ganforge.config import resolve
from ganforge.training.trainer import Trainer
from throughput import isa_limits_set

QUIET = ["train.steps=100000000", "train.progress=false", "train.sample_every=100000000",
         "train.ckpt_every=100000000", "train.log_every=100000000"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recipe", required=True)
    p.add_argument("--a", nargs="*", default=[], metavar="SECTION.KEY=VALUE", help="A's overrides")
    p.add_argument("--b", nargs="*", default=[], metavar="SECTION.KEY=VALUE", help="B's overrides")
    p.add_argument("--turn", type=int, default=50, help="steps per turn")
    p.add_argument("--rounds", type=int, default=8, help="timed rounds (after one of warm-up)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    limits = isa_limits_set()
    print(f"{args.recipe}: A {args.a}, B {args.b}; {args.turn}-step turns, {args.rounds} rounds, "
          f"{args.threads} threads" + (f"; EMULATING AN OLDER CPU: {' '.join(limits)}" if limits else ""))
    with tempfile.TemporaryDirectory() as tmp:
        trainers = {name: Trainer(resolve(args.recipe, [*QUIET, f"train.threads={args.threads}", *sets]),
                                  Path(tmp) / name)
                    for name, sets in (("A", args.a), ("B", args.b))}
        print("; ".join(f"{name} computes in {t.rt.precision}{', channels-last' if t.channels_last else ''}"
                        for name, t in trainers.items()))  # what auto resolved to
        rates: dict[str, list[float]] = {"A": [], "B": []}
        for round_ in range(args.rounds + 1):
            for name, trainer in trainers.items():
                start = time.perf_counter()
                trainer.train(until=trainer.step + args.turn)
                rate = args.turn * trainer.batches.batch_size / (time.perf_counter() - start)
                if round_:  # round 0 warms both up
                    rates[name].append(rate)
            if round_:
                print(f"round {round_}: A {rates['A'][-1]:.1f} img/s, B {rates['B'][-1]:.1f} img/s, "
                      f"B/A {rates['B'][-1] / rates['A'][-1]:.2f}", flush=True)
    ratios = [b / a for a, b in zip(rates["A"], rates["B"])]
    print(f"medians: A {statistics.median(rates['A']):.1f} img/s, B {statistics.median(rates['B']):.1f} img/s; "
          f"B/A {statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})")


if __name__ == "__main__":
    main()
