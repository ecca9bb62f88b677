"""Image sheets: rows of samples with a label in front of each row, scaled up so small images
stay readable."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..errors import GanforgeError
from ..images import save_png, to_uint8

PAD = 2
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)


def tile_scale(size: int, target: int = 64) -> int:
    """Integer upscaling so a tile is at least `target` pixels wide."""
    return max(1, -(-target // size))


def tile_array(image: torch.Tensor) -> np.ndarray:
    """One [C, H, W] image in [-1, 1] (or uint8) -> H x W x 3 uint8."""
    arr = (image if image.dtype == torch.uint8 else to_uint8(image)).numpy().transpose(1, 2, 0)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return arr


def sheet(rows: list[torch.Tensor], row_labels: list[str] | None = None,
          scale: int | None = None) -> Image.Image:
    """Rows of images [n_i, C, H, W] (all the same H, W) -> one RGB picture, one row per entry,
    with `row_labels` written in a column on the left."""
    if not rows or any(r.dim() != 4 or len(r) == 0 for r in rows):
        raise GanforgeError("a sheet needs rows of images [N, C, H, W]; point data has no sheets")
    h, w = rows[0].shape[2:]
    if any(tuple(r.shape[2:]) != (h, w) for r in rows):
        raise GanforgeError("every image in a sheet must have the same size")
    scale = scale or tile_scale(max(h, w))
    th, tw = h * scale, w * scale
    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    labels = row_labels or []
    label_w = max([int(probe.textlength(t, font=font)) for t in labels] or [0])
    label_w = label_w + 3 * PAD if label_w else 0
    cols = max(len(r) for r in rows)
    img = Image.new("RGB", (label_w + PAD + cols * (tw + PAD), PAD + len(rows) * (th + PAD)), BACKGROUND)
    draw = ImageDraw.Draw(img)
    for i, row in enumerate(rows):
        y = PAD + i * (th + PAD)
        if i < len(labels):
            draw.text((PAD, y + th // 2), labels[i], fill=TEXT, font=font, anchor="lm")
        for j, image in enumerate(row):
            tile = Image.fromarray(tile_array(image)).resize((tw, th), Image.NEAREST)
            img.paste(tile, (label_w + PAD + j * (tw + PAD), y))
    return img


def tile_box(row: int, col: int, h: int, w: int, scale: int) -> tuple[int, int, int, int]:
    """Pixel box (left, top, right, bottom) of tile (row, col) in a sheet without row labels."""
    left = PAD + col * (w * scale + PAD)
    top = PAD + row * (h * scale + PAD)
    return left, top, left + w * scale, top + h * scale


def write_sheet(path: str | Path, rows: list[torch.Tensor], row_labels: list[str] | None = None,
                scale: int | None = None) -> Path:
    path = Path(path)
    save_png(sheet(rows, row_labels, scale), path)
    return path
