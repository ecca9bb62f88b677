"""Whether a run can resume with changed settings: checked before anything is loaded, so a
changed architecture is one line naming the keys instead of a failure inside load_state_dict.

Schedule and logging keys (train.steps, intervals, learning rates, ...) may change. A change to
the data's shape or source, to the optimiser's kind, or to any generator, discriminator or family
setting that changes the shapes of the saved weights, cannot: the checkpoint would not fit.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .. import run
from ..config import Config
from ..errors import ConfigError
from .build import build_components

# Settings that change the data or the optimiser state, whatever the models are.
_NEVER_CHANGED = ("data.source", "data.image_size", "data.channels", "optim.name")
_MODEL_SECTIONS = ("generator.", "discriminator.", "family.")


def check_resumable(run_dir: Path, saved: Config, wanted: Config) -> None:
    changed = run.config_differences(saved, wanted)
    refused = [k for k in changed if k in _NEVER_CHANGED]
    shaping = [k for k in changed if k.startswith(_MODEL_SECTIONS)]
    if shaping and _weight_shapes(run_dir, saved) != _weight_shapes(run_dir, wanted):
        refused += shaping
    if refused:
        what = ", ".join(f"{k} {_text(changed[k][0])} -> {_text(changed[k][1])}" for k in sorted(refused))
        raise ConfigError(f"cannot resume {run_dir} with a different model or data: {what} (its "
                          "checkpoints would not fit; schedule keys such as train.steps may change)")


def _weight_shapes(run_dir: Path, cfg: Config) -> dict:
    """Names, shapes and dtypes of G's and D's tensors as `cfg` builds them for the run's data."""
    summary = run.read_data_summary(run_dir) or {}
    if "shape" not in summary:
        return {}  # an old run without data.json: loading will tell
    with torch.random.fork_rng():  # building seeds torch's global generator; leave it as it was
        parts = build_components(cfg, tuple(summary["shape"]), int(summary.get("num_classes", 0)),
                                 cfg.train.seed)
    return {f"{prefix}.{k}": (tuple(v.shape), v.dtype) for prefix, module in (("G", parts.G), ("D", parts.D))
            for k, v in module.state_dict().items()}


def _text(value) -> str:
    return "(default)" if value is None else repr(value) if isinstance(value, str) else str(value)
