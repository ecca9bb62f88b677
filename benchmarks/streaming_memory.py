"""Peak memory per process and images/s of a folder trained streamed and held in memory (issue 14).

Writes a folder of N generated 64x64 RGB PNGs (seeded smooth colour fields with noise, so they
compress like photos rather than like flat colour), then trains the same recipe on it twice with
`ganforge train` in a subprocess: data.in_memory=false (streamed through DataLoader workers) and
data.in_memory=true (decoded whole). While each runs, the peak RSS (VmHWM) of the trainer and of
every DataLoader worker is read from /proc; images/s is the median of the logged intervals after
the first. The last thing printed is a markdown table for benchmarks/RESULTS.md.

    python benchmarks/streaming_memory.py [--images 50000] [--steps 200] [--recipe dcgan-64]
        [--folder /tmp/ganforge-png50k] [--threads 1] [--workers 2]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def write_folder(folder: Path, count: int, size: int = 64, seed: int = 0) -> None:
    """`count` PNGs in 10 class sub-folders; kept when the folder already holds them all."""
    if len(list(folder.glob("*/*.png"))) == count:
        return
    rng = np.random.default_rng(seed)
    grid = np.linspace(0, 1, size, dtype=np.float32)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    for i in range(count):
        a, b, c = rng.uniform(0, 6.28, 3)
        base = np.stack([np.sin(a + 4 * xx), np.cos(b + 3 * yy), np.sin(c + 5 * (xx + yy))], -1)
        pixels = np.clip(127.5 * (base + 1) + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        cls = folder / f"class{i % 10}"
        cls.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(cls / f"{i:06d}.png")


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo += [int(c) for c in children]
        except OSError:
            pass
    return out


def peak_rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def train(args, folder: Path, in_memory: bool, out: Path) -> dict:
    sets = [f"data.in_memory={str(in_memory).lower()}", "data.image_size=64", f"data.workers={args.workers}",
            f"train.steps={args.steps}", f"train.threads={args.threads}", "train.log_every=25",
            f"train.sample_every={args.steps}", f"train.ckpt_every={args.steps}", "train.progress=false"]
    cmd = [sys.executable, "-m", "ganforge", "train", "--recipe", args.recipe, "--data", str(folder),
           "--out", str(out), *[a for s in sets for a in ("--set", s)]]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peaks: dict[int, int] = {}
    while proc.poll() is None:
        for pid in descendants(proc.pid):
            rss = peak_rss_kib(pid)
            if rss is not None:
                peaks[pid] = max(peaks.get(pid, 0), rss)
        time.sleep(0.2)
    if proc.returncode != 0:
        raise SystemExit(f"training failed ({proc.returncode}): {' '.join(cmd)}")
    wall = time.perf_counter() - start
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [r["img_per_s"] for r in log if "img_per_s" in r][1:]
    data = json.loads((out / "data.json").read_text())
    trainer_peak = peaks.pop(proc.pid, 0)
    return {"mode": "streamed" if data["streamed"] else "in memory", "img_per_s": statistics.median(rates),
            "trainer_peak_mib": trainer_peak / 1024,
            "worker_peak_mib": max(peaks.values(), default=0) / 1024, "workers_seen": len(peaks),
            "wall_s": wall, "decision": data["memory_decision"], "samples": data["samples"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=50_000)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--recipe", default="dcgan-64")
    p.add_argument("--folder", default="/tmp/ganforge-png50k")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    folder = Path(args.folder)
    t0 = time.perf_counter()
    write_folder(folder, args.images)
    print(f"folder: {args.images} PNGs in {folder} ({time.perf_counter() - t0:.0f} s to write or find)")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for in_memory in (False, True):
            result = train(args, folder, in_memory, Path(tmp) / ("memory" if in_memory else "streamed"))
            print(json.dumps(result))
            results.append(result)
    print(f"\n{args.recipe}, {args.images} 64x64 PNGs, {args.steps} steps, train.threads={args.threads}, "
          f"data.workers={args.workers}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs\n")
    print("| mode | img/s (median) | peak RSS trainer | peak RSS per worker | wall |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['mode']} | {r['img_per_s']:.0f} | {r['trainer_peak_mib']:.0f} MiB | "
              f"{r['worker_peak_mib']:.0f} MiB ({r['workers_seen']} seen) | {r['wall_s']:.0f} s |")


if __name__ == "__main__":
    main()
