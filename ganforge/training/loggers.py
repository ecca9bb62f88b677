"""Optional experiment loggers, `train.logger = ["tensorboard", "wandb"]` (none by default).

RUN/metrics.jsonl stays the source of truth: a logger receives each record after it was written
there (MetricsLog's sinks) and each sample grid the trainer saves. Each logger is an optional
extra, imported only when named, with a one-line error naming the extra when it is missing.

- tensorboard: event files in RUN/tensorboard (torch.utils.tensorboard; `tensorboard --logdir RUN`).
  On resume, events after the checkpoint's step are purged, as metrics.jsonl's lines are.
- wandb: a run in RUN/wandb with the run's config; its id is kept in RUN/wandb/ganforge-run-id so
  a resumed run continues the same W&B run. WANDB_MODE=offline works without a network
  (`wandb sync` uploads later).
"""
from __future__ import annotations

import secrets
from pathlib import Path

import numpy as np
from PIL import Image

from .. import run
from ..errors import ConfigError, GanforgeError

# Training records hold the interval's statistics; these keys are bookkeeping.
_NOT_SCALARS = {"step", "time", "event"}


def scalars_of(record: dict) -> dict[str, float]:
    """A record's numbers under logger tags: training statistics as train/<key>, evaluation
    metrics keep their eval/<metric> names."""
    return {(k if "/" in k else f"train/{k}"): float(v) for k, v in record.items()
            if k not in _NOT_SCALARS and isinstance(v, (int, float)) and not isinstance(v, bool)}


class TensorBoardLogger:
    def __init__(self, run_dir: Path, start_step: int):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("train.logger 'tensorboard' needs the tensorboard package: "
                              "pip install 'ganforge[tensorboard]'") from None
        # purge_step drops events a previous process logged after the checkpoint resumed from.
        self.writer = SummaryWriter(str(run.logger_dir(run_dir, "tensorboard")), flush_secs=30,
                                    purge_step=start_step if start_step > 0 else None)

    def write(self, record: dict) -> None:
        for tag, value in scalars_of(record).items():
            self.writer.add_scalar(tag, value, record["step"])

    def image(self, step: int, name: str, image: Image.Image) -> None:
        self.writer.add_image(name, np.asarray(image.convert("RGB")), step, dataformats="HWC")

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbLogger:
    ID_FILE = "ganforge-run-id"

    def __init__(self, run_dir: Path, config: dict):
        try:
            import wandb
        except ImportError:
            raise ConfigError("train.logger 'wandb' needs the wandb package: "
                              "pip install 'ganforge[wandb]'") from None
        self.wandb = wandb
        folder = run.logger_dir(run_dir, "wandb")
        folder.mkdir(parents=True, exist_ok=True)
        id_file = folder / self.ID_FILE
        run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
        id_file.write_text(run_id + "\n")
        try:
            self.run = wandb.init(project="ganforge", name=Path(run_dir).name, dir=str(run_dir),
                                  id=run_id, resume="allow", config=config)
        except wandb.errors.Error as e:  # e.g. no API key and no network
            raise GanforgeError(f"wandb could not start ({str(e).splitlines()[0]}); "
                                "WANDB_MODE=offline logs without a network") from None

    def write(self, record: dict) -> None:
        self.run.log(scalars_of(record), step=record["step"])

    def image(self, step: int, name: str, image: Image.Image) -> None:
        self.run.log({name: self.wandb.Image(np.asarray(image.convert("RGB")))}, step=step)

    def flush(self) -> None:
        pass  # wandb's own service writes as it goes

    def close(self) -> None:
        self.run.finish()


class Loggers:
    """The configured loggers as one sink: `write(record)`, `image(step, name, image)`, `flush()`
    (the end of a training segment), `close()` (the end of training)."""

    def __init__(self, loggers: list | None = None):
        self.loggers = loggers or []

    def write(self, record: dict) -> None:
        for logger in self.loggers:
            logger.write(record)

    def image(self, step: int, name: str, image: Image.Image) -> None:
        for logger in self.loggers:
            logger.image(step, name, image)

    def flush(self) -> None:
        for logger in self.loggers:
            logger.flush()

    def close(self) -> None:
        for logger in self.loggers:
            logger.close()
        self.loggers = []


def open_loggers(names, run_dir: Path, config: dict, start_step: int) -> Loggers:
    """The loggers `names` (config.LOGGERS; the config checked them), opened in `run_dir`."""
    opened = []
    for name in dict.fromkeys(names):  # each once, in the order given
        if name == "tensorboard":
            opened.append(TensorBoardLogger(run_dir, start_step))
        else:
            opened.append(WandbLogger(run_dir, config))
    return Loggers(opened)
