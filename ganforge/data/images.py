"""Decode one image file with Pillow into a small square uint8 array, refusing bad files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ganforge.data.messages import one_line
from ganforge.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

# Refuse images whose header claims more pixels than this (decompression bombs). Checked from the
# header before decoding, so a tiny file that would expand to gigabytes is never decoded.
MAX_PIXELS = 64 * 1024 * 1024

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def is_image_file(path: Path) -> bool:
    """True for a visible file with an image extension (macOS '._x.png' forks are hidden)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def read_image(path: Path, size: int) -> np.ndarray:
    """Decode `path` (first frame) and fit it to size x size: uint8 [C, size, size], C in 1..4.

    C is the file's own layout after normalising exotic modes: 1 (L), 2 (LA), 3 (RGB), 4 (RGBA).
    Any failure (unreadable, truncated, too large) becomes a DataError naming the file.
    """
    return _decode(path, size, path)


def decode_image(data: bytes, size: int, name: str) -> np.ndarray:
    """`read_image` for encoded bytes held in a container (a zip member, an LMDB value, a tar
    entry); errors name `name`, e.g. 'train.zip:00000/img00000003.png'."""
    return _decode(io.BytesIO(data), size, name)


def _decode(source, size: int, path) -> np.ndarray:
    try:
        with Image.open(source) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise DataError(f"{path}: {width}x{height} pixels is over the limit of {MAX_PIXELS} "
                                "(possible decompression bomb)")
            image.draft(None, (size, size))  # JPEG: let the decoder downscale by 2/4/8 for free
            image.load()  # force the full decode here so truncation is caught as this file's error
            image = fit_square(plain_mode(_upright(image)), size)
            pixels = np.asarray(image)
    except DataError:
        raise
    except Image.DecompressionBombError as error:
        raise DataError(f"{path}: {one_line(error)}") from error
    except Exception as error:  # Pillow raises many types for corrupt data; all mean "bad file"
        reason = one_line(error).replace(repr(source), "data")  # Pillow names a BytesIO by its repr
        raise DataError(f"{path}: not a readable image ({reason})") from error
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def plain_mode(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to L, LA, RGB or RGBA, keeping the source's colour and alpha."""
    mode = image.mode
    if mode in ("L", "LA", "RGB", "RGBA"):
        return image
    if mode in _SIXTEEN_BIT_MODES:
        # 16-bit grayscale: 0..65535 maps to 0..255 (dividing by 257 maps 65535 exactly to 255).
        wide = np.asarray(image).astype(np.float64)
        return Image.fromarray(np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8))
    if mode == "F":
        values = np.asarray(image).astype(np.float64)
        scale = 255.0 if np.nanmax(values, initial=0.0) <= 1.0 else 1.0
        return Image.fromarray(np.clip(np.rint(np.nan_to_num(values) * scale), 0, 255).astype(np.uint8))
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        colour = image.convert("RGBA" if has_alpha else "RGB")
        pixels = np.asarray(colour)
        # Palettes of grays (common for scanned or synthetic digits) stay single-channel.
        is_gray = np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2])
        if is_gray:
            return colour.convert("LA" if has_alpha else "L")
        return colour
    if mode in ("1", "La"):
        return image.convert("L" if mode == "1" else "LA")
    if mode in ("RGBa", "RGBX"):
        return image.convert("RGBA" if mode == "RGBa" else "RGB")
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV


def fit_square(image: Image.Image, size: int) -> Image.Image:
    """Scale the shorter side to `size` and center-crop, in one antialiased bilinear resample.

    Resampling only the central square (Pillow's `box`) equals resize-then-crop without the
    intermediate image. RGBA/LA are resampled premultiplied by Pillow, so edges do not darken.
    """
    width, height = image.size
    if (width, height) == (size, size):
        return image
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    return image.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side),
                        reducing_gap=3.0)


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (phone photos), which matters for a center crop."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # malformed EXIF only loses the rotation; the pixels are still good
        return image
