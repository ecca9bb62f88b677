"""Shared pieces of the reliability tests: a tiny run through the real trainer, and checks."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from ganforge import api
from ganforge.config import resolve
from ganforge.training import checkpoint as ckpt

# scikit-learn's digits load fastest; the sizes are the smallest the DCGAN models accept.
TINY = [
    "data.source=digits", "data.image_size=16", "generator.width=8", "generator.z_dim=16",
    "discriminator.width=8", "train.batch_size=16", "train.progress=false", "train.grid_size=16",
    "train.log_every=2", "train.sample_every=100", "train.ckpt_every=2", "train.keep_ckpts=5",
]


# The paper settings (Adam 2e-4, no EMA, no R1): the rollback tests check that learning rate halved.
RECIPE = "dcgan-paper"


def train(tmp_path: Path, name: str, *sets: str) -> Path:
    return api.train(resolve(RECIPE, TINY + list(sets)), out=tmp_path / name)


def steps_saved(run: Path) -> list[int]:
    return [json.loads((p / ckpt.META).read_text())["step"] for p in ckpt.checkpoint_dirs(run)]


def all_finite(run: Path) -> bool:
    return all(torch.isfinite(t).all() for p in ckpt.checkpoint_dirs(run)
               for t in load_file(str(p / ckpt.WEIGHTS)).values() if t.is_floating_point())


def log_records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
