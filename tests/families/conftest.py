"""Shared pieces of the family tests: tiny settings per recipe, a labelled image folder, and
builders for a family with its models outside the trainer."""
import json

import numpy as np
import pytest
from PIL import Image

from ganforge import api
from ganforge.config import resolve
from ganforge.training.build import build_components
from tests.conftest import TINY_DCGAN

# Per-recipe additions that keep the runs to a fraction of a second.
TINY_EXTRA = {
    "wgan": ["family.warmup_d_steps=3", "family.warmup_g_steps=1", "family.d_steps=2"],
    "wgan-gp": ["family.d_steps=2"],
    "began": ["discriminator.hidden=8", "family.patience=32"],
}


def tiny(recipe: str, *more: str) -> list[str]:
    return [*TINY_DCGAN, *TINY_EXTRA.get(recipe, []), *more]


def train(tmp_path, name: str, recipe: str, *more: str):
    return api.train(resolve(recipe, tiny(recipe, *more)), out=tmp_path / name)


def read_log(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def build(recipe: str, *more: str, data_shape=(1, 16, 16), num_classes: int = 10, seed: int = 0):
    """(family, G, D) exactly as the trainer builds them, without data or a run directory."""
    parts = build_components(resolve(recipe, tiny(recipe, *more)), data_shape, num_classes, seed)
    return parts.family, parts.G, parts.D


@pytest.fixture(scope="session")
def class_folder(tmp_path_factory):
    """A folder of 16x16 RGB PNGs, one sub-folder per class: 'bars' and 'dots', 20 each."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for name in ("bars", "dots"):
        (root / name).mkdir()
        for i in range(20):
            img = rng.integers(0, 60, (16, 16, 3), dtype=np.uint8)
            if name == "bars":
                img[:, i % 12:(i % 12) + 4] = 230
            else:
                img[4 + i % 8, 4 + i % 8] = 255
            Image.fromarray(img).save(root / name / f"{i:02d}.png")
    return root
