"""Kill a training run with SIGKILL at random moments, resume it each time, and check that it ends
bitwise equal to an uninterrupted run and that no checkpoint on disk was ever unreadable.

    python benchmarks/sigkill_stress.py [--kills 20] [--seed 0] [--keep DIR]

Each kill lands at one of three kinds of moment, in a seeded random order and at seeded random
delays: "write" (while a checkpoint folder is being written: the test hook
GANFORGE_TEST_SLOW_CKPT_WRITE widens that window), "training" (any time after the process has
saved a new checkpoint: during steps, log lines, sample grids, pruning) and "startup" (before
the process completes its first new checkpoint: import, data loading, restore, the truncation of
the metrics log, the first steps). Whether a kill really hit a
checkpoint write is read from the disk afterwards (the killed process's temporary folder is
still there). Operating-system timing still varies from run to run; the seed fixes the plan.

tests/reliability/test_sigkill.py runs the same harness with 4 kills.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ganforge.errors import CheckpointError  # noqa: E402
from ganforge.run import checkpoints_dir  # noqa: E402
from ganforge.training import checkpoint as ckpt  # noqa: E402

# A tiny DCGAN on scikit-learn's digits: about 20 ms a step on one core.
SETTINGS = [
    "data.source=digits", "data.image_size=16", "generator.width=8", "generator.z_dim=16",
    "discriminator.width=8", "train.batch_size=16", "train.threads=1", "train.progress=false",
    "train.grid_size=16", "train.log_every=1", "train.sample_every=1", "train.ckpt_every=2",
    "train.keep_ckpts=2", "train.seed=3",
]
MODES = ("write", "training", "startup")
SLOW_WRITE_S = 0.1     # pause at each of the hook's points inside a checkpoint write
WAIT_LIMIT_S = 180.0   # a process that neither progresses nor exits by then is a failure
VOLATILE = ("time", "img_per_s")  # log fields that depend on the clock


@dataclass
class StressResult:
    kills: int = 0
    kills_during_write: int = 0
    fresh_starts: int = 0   # killed before the first checkpoint existed: nothing to resume
    launches: int = 0
    bitwise_equal: bool = False
    log_equal: bool = False
    wall_s: float = 0.0
    modes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _command(run: Path, steps: int, resume: bool) -> list[str]:
    if resume:
        return [sys.executable, "-m", "ganforge", "train", "--resume", str(run)]
    sets = [a for s in SETTINGS + [f"train.steps={steps}"] for a in ("--set", s)]
    return [sys.executable, "-m", "ganforge", "train", "--recipe", "dcgan", "--out", str(run), *sets]


def _env(slow: float | None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    env.pop(ckpt.SLOW_WRITE_ENV, None)
    if slow:
        env[ckpt.SLOW_WRITE_ENV] = str(slow)
    return env


def _run_to_end(run: Path, steps: int, resume: bool, log: Path) -> None:
    with open(log, "ab") as err:
        done = subprocess.run(_command(run, steps, resume), env=_env(None), cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=err, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"training exited with {done.returncode}: {log.read_text()[-2000:]}")


def _newest_step(run: Path) -> int:
    dirs = ckpt.checkpoint_dirs(run)
    return int(json.loads((dirs[-1] / ckpt.META).read_text())["step"]) if dirs else -1


def _entries(run: Path) -> set[str]:
    root = checkpoints_dir(run)
    return {p.name for p in root.iterdir()} if root.is_dir() else set()


def _being_written(run: Path, before: set[str]) -> set[str]:
    """Folders in checkpoints/ that appeared since `before` and are not complete checkpoints (a
    temporary folder, or a half-written one under any name); folders being deleted aside."""
    now = _entries(run)  # listed before the complete ones, so a rename in between is not missed
    complete = {p.name for p in ckpt.checkpoint_dirs(run)}
    return {name for name in now - before - complete if not name.startswith(".del-")}


def _wait(proc: subprocess.Popen, ready, limit: float = WAIT_LIMIT_S) -> bool:
    """Poll until ready() or the process exits; True when ready."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if ready():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    return False


def check_run_dir(run: Path) -> list[str]:
    """Everything a user could trip over after a crash: each checkpoint folder verifies and
    loads, nothing half-written sits under a final name, the log parses."""
    problems = []
    root = checkpoints_dir(run)
    listed = ckpt.checkpoint_dirs(run)
    if root.is_dir():
        for p in root.iterdir():
            if p.name.startswith("step-") and p not in listed:
                problems.append(f"{p.name} is incomplete under its final name")
    for p in listed:
        try:
            ckpt.load_checkpoint(p)
        except CheckpointError as e:
            problems.append(f"unreadable checkpoint: {e}")
    for name in ("config.json", "data.json"):
        if (run / name).exists():
            try:
                json.loads((run / name).read_text())
            except ValueError:
                problems.append(f"{name} is not valid JSON")
    log = run / "metrics.jsonl"
    if log.exists():
        lines = log.read_text().splitlines()
        for i, line in enumerate(lines):
            try:
                json.loads(line)
            except ValueError:
                if i != len(lines) - 1:  # only the line being written when killed may be cut
                    problems.append(f"metrics.jsonl line {i + 1} is corrupt")
    return problems


def _kill_once(run: Path, steps: int, mode: str, rng: random.Random, result: StressResult,
               workdir: Path) -> bool:
    """Launch (fresh or resumed), kill at a moment of the given kind; False if it finished."""
    resumable = (run / "config.json").is_file() and bool(ckpt.checkpoint_dirs(run))
    if not resumable:
        if run.exists():
            result.fresh_starts += 1
            shutil.rmtree(run)
    start_step = _newest_step(run)
    before = _entries(run)
    err = open(workdir / f"stderr-{result.launches:02d}.txt", "wb")
    proc = subprocess.Popen(_command(run, steps, resumable), env=_env(SLOW_WRITE_S), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=err)
    result.launches += 1
    try:
        if mode == "write":
            ready = _wait(proc, lambda: bool(_being_written(run, before)))
            delay = rng.uniform(0.0, 3 * SLOW_WRITE_S)
        elif mode == "training":
            ready = _wait(proc, lambda: _newest_step(run) > start_step)
            delay = rng.uniform(0.0, 1.0)
        else:  # before this process's first new checkpoint is complete
            _wait(proc, lambda: _newest_step(run) > start_step, limit=rng.uniform(0.2, 4.0))
            ready, delay = False, 0.0
        if ready:
            time.sleep(delay)
        if proc.poll() is not None:
            if proc.returncode != 0:
                result.problems.append(f"launch {result.launches} exited with {proc.returncode}: "
                                       f"{(workdir / f'stderr-{result.launches - 1:02d}.txt').read_text()[-500:]}")
            return False
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        result.kills += 1
        result.modes.append(mode)
        if _being_written(run, before):
            result.kills_during_write += 1
        result.problems += [f"after kill {result.kills} ({mode}): {p}" for p in check_run_dir(run)]
        return True
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        err.close()


def _same(a, b) -> bool:
    import torch
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _log_records(run: Path) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in VOLATILE} for line in lines]


def compare_runs(reference: Path, other: Path) -> tuple[bool, bool]:
    """(final weights, optimiser, RNG and counters bitwise equal; metrics logs equal)."""
    a_dir, b_dir = ckpt.checkpoint_dirs(reference)[-1], ckpt.checkpoint_dirs(other)[-1]
    a_tensors, a_state, a_meta = ckpt.load_checkpoint(a_dir)
    b_tensors, b_state, b_meta = ckpt.load_checkpoint(b_dir)
    same = (a_dir.name == b_dir.name and _same(a_tensors, b_tensors) and _same(a_state, b_state)
            and (reference / "samples" / "latest.png").read_bytes() == (other / "samples" / "latest.png").read_bytes())
    return same, _log_records(reference) == _log_records(other)


def run_stress(workdir: Path, kills: int = 20, seed: int = 0, steps: int | None = None) -> StressResult:
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    steps = steps or 4 * kills + 8
    rng = random.Random(seed)
    modes = [MODES[i % len(MODES)] for i in range(kills)]
    rng.shuffle(modes)
    started = time.perf_counter()
    result = StressResult()

    reference = workdir / "uninterrupted"
    _run_to_end(reference, steps, resume=False, log=workdir / "stderr-reference.txt")
    run = workdir / "killed"
    for mode in modes:
        if not _kill_once(run, steps, mode, rng, result, workdir):
            result.problems.append(f"the run finished after {result.kills} kills; raise steps")
            break
    resumable = (run / "config.json").is_file() and bool(ckpt.checkpoint_dirs(run))
    if not resumable and run.exists():
        result.fresh_starts += 1
        shutil.rmtree(run)
    if _newest_step(run) < steps:
        _run_to_end(run, steps, resume=resumable, log=workdir / "stderr-final.txt")
    result.problems += check_run_dir(run)
    result.bitwise_equal, result.log_equal = compare_runs(reference, run)
    result.wall_s = round(time.perf_counter() - started, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="default: 4 x kills + 8")
    parser.add_argument("--keep", help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args()
    if args.keep:
        result = run_stress(Path(args.keep), args.kills, args.seed, args.steps)
    else:
        with tempfile.TemporaryDirectory() as folder:
            result = run_stress(Path(folder), args.kills, args.seed, args.steps)
    print(f"kills: {result.kills} ({result.kills_during_write} during a checkpoint write; "
          f"modes {', '.join(f'{m}={result.modes.count(m)}' for m in MODES)})")
    print(f"launches: {result.launches}, fresh starts (killed before any checkpoint): {result.fresh_starts}")
    print(f"final weights, optimiser, RNG and counters bitwise equal to the uninterrupted run: "
          f"{'yes' if result.bitwise_equal else 'NO'}")
    print(f"metrics log equal (clock fields aside): {'yes' if result.log_equal else 'NO'}")
    print(f"unreadable checkpoints or other problems: {len(result.problems)}")
    for p in result.problems:
        print(f"  {p}")
    print(f"wall time: {result.wall_s} s")
    sys.exit(0 if result.bitwise_equal and result.log_equal and not result.problems else 1)


if __name__ == "__main__":
    main()
