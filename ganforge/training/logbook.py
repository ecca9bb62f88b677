"""Statistics reported from the step, collected in one place, written as JSON lines.

Step statistics arrive as device tensors and are summed without reading them back; the host sees
them only at a logging step, so the training step itself never waits for the device.
"""
from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path

import torch

from .. import safe_files
from ..errors import CheckpointError, GanforgeError
from ..io import atomic_write_bytes, json_line


class StatsAccumulator:
    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, stats: dict[str, torch.Tensor]) -> None:
        for k, v in stats.items():
            v = v.detach().float()
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self, reduce=None) -> dict[str, float]:
        """Read the interval's means back to the host (and reset). `reduce` averages across ranks."""
        if not self.sums:
            return {}
        keys = sorted(self.sums)
        stacked = torch.stack([self.sums[k] / self.counts[k] for k in keys])
        if reduce is not None:
            stacked = reduce(stacked)
        values = stacked.cpu().tolist()
        self.sums, self.counts = {}, {}
        return dict(zip(keys, values))


class MetricsLog:
    """Appends one JSON object per line to metrics.jsonl (only the main process writes), then
    passes the record to each sink (the optional loggers: ganforge.training.loggers)."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path, self.enabled = Path(path), enabled
        self.sinks: list = []
        self._checked = False

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        if not self._checked:  # a link out of the run would make every append write elsewhere
            safe_files.check_appendable(self.path, self.path.parent)
            self._checked = True
        record = {**record, "time": record.get("time", round(time.time(), 3))}
        line = json_line(record)
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
                f.flush()
        except OSError as e:
            raise GanforgeError(f"cannot append to {self.path}: {e.strerror or e}") from None
        for sink in self.sinks:
            sink.write(record)

    def truncate_after(self, step: int) -> None:
        """On resume, drop lines logged after the checkpoint we restart from. Lines that are not
        log records (api.resume refuses to start on them unless asked to repair the log) move to
        metrics.jsonl.bad rather than vanish."""
        if not os.path.lexists(self.path):
            return
        records, bad = parse_log(self.path)
        if bad:
            set_aside(self.path, bad)
        kept = [line for line, record in records if record["step"] <= step]
        atomic_write_bytes(self.path, b"".join(line + b"\n" for line in kept))


def parse_log(path: Path) -> tuple[list[tuple[bytes, dict]], list[tuple[int, bytes, str]]]:
    """([(line, record)], [(line number, line, why it is not a record)]) of a metrics log. A last
    line without its newline that does not parse was cut by a crash: dropped, not reported."""
    data = safe_files.read_bytes(path, safe_files.MAX_LOG, Path(path).parent)
    lines = data.split(b"\n")
    cut = lines.pop() if lines else b""  # after the last newline: empty, or a line cut short
    records, bad = [], []
    for number, line in enumerate(lines, 1):
        record, why = _record(line)
        if record is None:
            if line.strip():
                bad.append((number, line, why))
        else:
            records.append((line, record))
    if cut.strip():
        record, _ = _record(cut)
        if record is not None:
            records.append((cut, record))
    return records, bad


def _record(line: bytes) -> tuple[dict | None, str]:
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8"
    except (ValueError, RecursionError):
        return None, "not JSON"
    if not isinstance(record, dict):
        return None, f"a JSON {type(record).__name__}, not an object"
    step = record.get("step")
    if type(step) is not int or step < 0:
        return None, "no integer step"
    return record, ""


def set_aside(path: Path, bad: list[tuple[int, bytes, str]]) -> Path:
    """Append unreadable log lines to PATH.bad (nothing a user wrote is deleted)."""
    aside = Path(f"{path}.bad")
    previous = b""
    if os.path.lexists(aside):
        previous = safe_files.read_bytes(aside, safe_files.MAX_LOG, aside.parent)
    if previous and not previous.endswith(b"\n"):
        previous += b"\n"
    atomic_write_bytes(aside, previous + b"".join(line + b"\n" for _, line, _ in bad))
    return aside


def check_log(path: Path, repair: bool = False) -> None:
    """Before resuming: a metrics log with lines that are not records stops the resume with one
    line saying so, unless `repair`, which moves them to PATH.bad and keeps every record."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    records, bad = parse_log(path)
    if not bad:
        return
    number, _, why = bad[0]
    if not repair:
        raise CheckpointError(
            f"{path} line {number} is not a log record ({why}; {len(bad)} such line(s)); nothing "
            f"was changed. Resume with --repair-log to move them to {path.name}.bad and continue "
            f"from the checkpoint, keeping the {len(records)} readable record(s)")
    aside = set_aside(path, bad)
    atomic_write_bytes(path, b"".join(line + b"\n" for line, _ in records))
    warnings.warn(f"moved {len(bad)} unreadable line(s) of {path} to {aside}")


def read_metrics(path: Path) -> list[dict]:
    """The log's records; unreadable lines are skipped."""
    if not os.path.lexists(path):
        return []
    return [record for _, record in parse_log(Path(path))[0]]
