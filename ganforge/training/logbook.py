"""Statistics reported from the step, collected in one place, written as JSON lines.

Step statistics arrive as device tensors and are summed without reading them back; the host sees
them only at a logging step, so the training step itself never waits for the device.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from ..errors import GanforgeError
from ..io import atomic_write_text, json_line


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

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
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
        """On resume, drop lines logged after the checkpoint we restart from."""
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash
        atomic_write_text(self.path, "".join(l + "\n" for l in kept))


def read_metrics(path: Path) -> list[dict]:
    out = []
    if Path(path).exists():
        for line in Path(path).read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out
