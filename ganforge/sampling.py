"""Writing samples from a loaded generator as a grid PNG, a folder of PNGs or an .npz array."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .errors import GanforgeError
from .explore.codes import code_sweep_latent
from .images import grid_image, save_png, to_pil, to_uint8
from .io import atomic_write_bytes


def write_samples(g, n: int, seed: int, out: str | Path, fmt: str = "png", labels=None,
                  truncation: float | None = None, class_grid: bool = False) -> Path:
    if n < 1 or n > 100_000:
        raise GanforgeError(f"-n must be between 1 and 100000, got {n}")
    nrow = None
    if class_grid:
        if not g.conditional:
            raise GanforgeError("--class-grid needs a conditional model")
        per_class = max(1, n // g.num_classes)
        labels = [c for c in range(g.num_classes) for _ in range(per_class)]
        n, nrow = len(labels), per_class
    elif labels is not None:
        if not g.conditional:
            raise GanforgeError("--labels needs a conditional model")
        labels = [labels[i % len(labels)] for i in range(n)]
    samples = g.sample(n, seed=seed, labels=labels, truncation=truncation)
    out = Path(out)
    if fmt == "png":
        save_png(grid_image(samples, nrow=nrow), out)
    elif fmt == "png-dir":
        if samples.dim() == 2:
            raise GanforgeError("png-dir needs image samples; use npz for points")
        out.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(to_uint8(samples)):
            arr = img.numpy().transpose(1, 2, 0)
            save_png(to_pil(arr[:, :, 0] if arr.shape[2] == 1 else arr), out / f"{i:06d}.png")
    elif fmt == "npz":
        arrays = {"samples": to_uint8(samples).numpy() if samples.dim() == 4 else samples.numpy()}
        if labels is not None:
            arrays["labels"] = np.asarray(labels, dtype=np.int64)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(out, buf.getvalue())
    else:
        raise GanforgeError(f"unknown format '{fmt}'")
    return out


def write_code_sweep(g, code: str, n: int, seed: int, out: str | Path, steps: int = 10) -> Path:
    """InfoGAN: a PNG grid with one row per draw of z (about n images in all) and one column per
    value of `code` (every category for 'cat', `steps` values in [-1, 1] for 'contI')."""
    columns = getattr(g.family, "categorical", 0) if code == "cat" else steps
    latent = code_sweep_latent(g.family, max(1, n // max(columns, 1)), code, steps=steps,
                               seed=seed, device=g.device)
    save_png(grid_image(g.generate(latent), nrow=columns), Path(out))
    return Path(out)
