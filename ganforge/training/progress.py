"""Training progress that fits where it is written: a tqdm bar on a terminal, one plain line per
log interval anywhere else (a batch job's log, CI, `> train.log 2>&1`), and nothing when quiet.

tqdm's own environment settings (TQDM_DISABLE, TQDM_NCOLS, TQDM_MININTERVAL, ...) are respected:
the bar is given no argument the environment already sets, and TQDM_DISABLE silences the plain
lines too.
"""
from __future__ import annotations

import sys
import time
from datetime import timedelta
from typing import TextIO

from tqdm import tqdm

from ..data.progress import tqdm_environment

# Record keys that are bookkeeping, not statistics to print.
_NOT_SHOWN = {"step", "images_seen", "img_per_s", "time", "event"}


class Progress:
    """What the trainer calls: `advance` after every step, `report` with each logged record,
    `moved_to` when a rollback sets the step back, `close` at the end. This base is silent."""

    def advance(self, step: int) -> None:
        pass

    def report(self, record: dict) -> None:
        pass

    def moved_to(self, step: int) -> None:
        pass

    def close(self) -> None:
        pass


class ProgressBar(Progress):
    def __init__(self, total: int, initial: int, stream: TextIO):
        defaults = {"dynamic_ncols": True, "unit": "step", "file": stream}
        env = tqdm_environment()
        self.bar = tqdm(total=total, initial=initial,
                        **{k: v for k, v in defaults.items() if k not in env})

    def advance(self, step: int) -> None:
        self.bar.update(step - self.bar.n)

    def report(self, record: dict) -> None:
        if "img_per_s" not in record:  # an evaluation: a line above the bar
            self.bar.write(format_record(record, self.bar.total))
            return
        self.bar.set_postfix_str(f"img/s {record['img_per_s']:.0f}  D {record.get('d_loss', 0):.3f}"
                                 f"  G {record.get('g_loss', 0):.3f}")

    def moved_to(self, step: int) -> None:
        self.bar.n = step
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


class ProgressLines(Progress):
    """One line per logged record: step/total, images per second, every statistic, ETA."""

    def __init__(self, total: int, initial: int, stream: TextIO):
        self.total, self.stream = total, stream
        self.start_step, self.start_time = initial, time.monotonic()

    def report(self, record: dict) -> None:
        step, eta = record["step"], None
        done = step - self.start_step
        if 0 < done and step < self.total:
            eta = (time.monotonic() - self.start_time) / done * (self.total - step)
        print(format_record(record, self.total, eta), file=self.stream, flush=True)

    def moved_to(self, step: int) -> None:
        # The rate since a rollback is the honest basis for the ETA.
        self.start_step, self.start_time = step, time.monotonic()


def format_record(record: dict, total: int, eta_seconds: float | None = None) -> str:
    """'step  500/5000 ( 10%)  img/s 812  d_loss 0.6931  ...  ETA 0:01:23' (an evaluation record
    has no img/s and shows its metrics instead of losses)."""
    step = record["step"]
    parts = [f"step {step:>{len(str(total))}}/{total} ({100 * step / max(total, 1):3.0f}%)"]
    if "img_per_s" in record:
        parts.append(f"img/s {record['img_per_s']:.0f}")
    parts += [f"{k} {_number(v)}" for k, v in record.items()
              if k not in _NOT_SHOWN and isinstance(v, (int, float)) and not isinstance(v, bool)]
    if eta_seconds is not None:
        parts.append(f"ETA {timedelta(seconds=round(eta_seconds))}")
    return "  ".join(parts)


def _number(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def make_progress(enabled: bool, total: int, initial: int, stream: TextIO | None = None) -> Progress:
    """The reporter for this process: silent when not `enabled` (train.progress=false, or not the
    main process) or when TQDM_DISABLE is set; a bar when `stream` (stderr by default) is a
    terminal; plain lines otherwise."""
    stream = sys.stderr if stream is None else stream
    if not enabled or tqdm_environment().get("disable"):
        return Progress()
    if _is_terminal(stream):
        return ProgressBar(total, initial, stream)
    return ProgressLines(total, initial, stream)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
