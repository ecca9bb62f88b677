"""Turning generator output into pictures: uint8 conversion, grids, PNG files, point plots."""
from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .io import atomic_write_bytes


# The one convention between pixels and model values: uint8 0..255 <-> floats in [-1, 1].
def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 [0, 255] (rounded, clamped), same layout, on the CPU."""
    return images.detach().float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()


def from_uint8(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> floats in [-1, 1] on the same device, as models see them; float input
    (already model values, or 2-D points) passes through unchanged."""
    return images.float().div_(127.5).sub_(1.0) if images.dtype == torch.uint8 else images


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2,
              pad_value: int = 0) -> np.ndarray:
    """uint8 [N, C, H, W] -> one HxWxC (or HxW) uint8 array with `nrow` images per row."""
    if images.dtype != torch.uint8:
        images = to_uint8(images)
    n, c, h, w = images.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / nrow))
    grid = np.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding),
                   pad_value, dtype=np.uint8)
    arr = images.numpy()
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, y:y + h, x:x + w] = arr[i]
    grid = grid.transpose(1, 2, 0)
    return grid[:, :, 0] if c == 1 else grid


def to_pil(array: np.ndarray, scale: int = 1) -> Image.Image:
    img = Image.fromarray(array)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def save_png(img: Image.Image, path: str | Path) -> None:
    atomic_write_bytes(Path(path), png_bytes(img))


def grid_image(samples: torch.Tensor, nrow: int | None = None, scale: int = 1) -> Image.Image:
    """Images -> grid picture; 2-D points -> scatter plot."""
    if samples.dim() == 2:
        return scatter_image(samples)
    return to_pil(make_grid(samples, nrow), scale)


def scatter_image(points: torch.Tensor, size: int = 400, limit: float | None = None,
                  reference: torch.Tensor | None = None) -> Image.Image:
    """A small scatter plot of 2-D samples (and optional reference modes in red)."""
    pts = points.detach().float().cpu().numpy()
    if limit is None:
        finite = pts[np.isfinite(pts).all(1)]
        limit = float(np.abs(finite).max() * 1.1) if len(finite) else 1.0
        limit = max(limit, 1e-3)
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    half = size / 2

    def xy(p):
        return half + p[0] / limit * half, half - p[1] / limit * half

    draw.line([(0, half), (size, half)], fill=(220, 220, 220))
    draw.line([(half, 0), (half, size)], fill=(220, 220, 220))
    for p in pts:
        if np.isfinite(p).all():
            x, y = xy(p)
            draw.point((x, y), fill=(30, 60, 200))
    if reference is not None:
        for p in reference.cpu().numpy():
            x, y = xy(p)
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], outline=(220, 30, 30))
    return img
