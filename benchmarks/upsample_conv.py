"""The folded upsample-then-convolve (ganforge/nn/upsample_conv.py) against upsampling first.

Two measurements, interleaved repeat by repeat so both sides see the same machine load, medians
reported:
  1. forward + backward of conv3x3(upsample2x(x)) at a few shapes: BEGAN's small auto-encoder's
     last layer (64 -> 1 channels, 16 -> 32 pixels) and shapes like PGGAN's and BigGAN's
     up-blocks on the digits (which do not use the fold yet);
  2. a training step of the began recipe with its decoder folded (as shipped) and unfolded.

    python benchmarks/upsample_conv.py [--threads 1] [--repeats 3] [--steps 40]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import machine  # noqa: E402

from ganforge.config import resolve  # noqa: E402
from ganforge.models import began  # noqa: E402
from ganforge.nn import upsample_conv3x3  # noqa: E402
from ganforge.training.trainer import Trainer  # noqa: E402

# (batch, in channels, out channels, input size)
SHAPES = [(64, 64, 1, 16), (32, 64, 64, 8), (32, 64, 64, 16), (64, 64, 32, 8), (64, 32, 16, 16)]


def _ms(fn, n: int = 20) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1000


def op_times(repeats: int) -> list[str]:
    rows = []
    for batch, c_in, c_out, size in SHAPES:
        conv = nn.Conv2d(c_in, c_out, 3, 1, 1)
        x = torch.randn(batch, c_in, size, size, requires_grad=True)
        first = lambda: conv(F.interpolate(x, scale_factor=2, mode="nearest")).sum().backward()  # noqa: E731
        folded = lambda: upsample_conv3x3(x, conv).sum().backward()  # noqa: E731
        times = [(_ms(first), _ms(folded)) for _ in range(repeats)]
        a, b = (statistics.median(t[i] for t in times) for i in (0, 1))
        rows.append(f"| {batch} x {c_in} -> {c_out}, {size} -> {2 * size} | {a:.2f} | {b:.2f} | {a / b:.2f} |")
    return rows


def step_times(repeats: int, steps: int, threads: int) -> tuple[float, float]:
    folded_forward = began.SmallDecoder.forward

    def unfolded_forward(self, h):
        return self.net(h)

    times: dict[str, list[float]] = {"upsample first": [], "folded": []}
    try:
        for _ in range(repeats):
            for name, forward in (("upsample first", unfolded_forward), ("folded", folded_forward)):
                began.SmallDecoder.forward = forward
                cfg = resolve("began", [f"train.steps={steps + 10}", f"train.threads={threads}",
                                        "train.progress=false", "train.sample_every=1000000",
                                        "train.ckpt_every=1000000", "train.log_every=1000000"])
                with tempfile.TemporaryDirectory() as tmp:
                    trainer = Trainer(cfg, Path(tmp) / "run")
                    trainer.train(until=10)  # warm-up
                    start = time.perf_counter()
                    trainer.train(until=steps + 10)
                    times[name].append((time.perf_counter() - start) / steps * 1000)
    finally:
        began.SmallDecoder.forward = folded_forward
    return statistics.median(times["upsample first"]), statistics.median(times["folded"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{machine()}, {args.threads} thread(s), medians of {args.repeats} interleaved repeats\n")
    print("| batch x channels, size | upsample first, ms | folded, ms | ratio |\n|---|---:|---:|---:|")
    print("\n".join(op_times(args.repeats)))
    first, folded = step_times(args.repeats, args.steps, args.threads)
    print(f"\nbegan training step ({args.steps} steps after 10 of warm-up): upsample first "
          f"{first:.1f} ms, folded {folded:.1f} ms, ratio {first / folded:.2f}")


if __name__ == "__main__":
    main()
