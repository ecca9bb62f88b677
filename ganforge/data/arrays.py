"""Turn arrays of pixels from any source into uint8 [N, C, size, size] with the wanted channels."""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image

from ganforge.data.images import fit_square
from ganforge.data.progress import progress
from ganforge.errors import DataError
from ganforge.limits import check_allocation

_CHANNEL_COUNTS = (1, 3, 4)


def as_image_array(array: np.ndarray, where: str) -> np.ndarray:
    """Validate pixels given as NHW, NHWC or NCHW (uint8, integers or floats) -> uint8 NCHW.

    Floats are read as [0, 1], [-1, 1] or [0, 255] by their range; integers must fit 0..255 or
    be 16-bit (scaled down). Anything else (strings, objects, other ranks) is a DataError.
    """
    if array.dtype.kind not in "biuf":
        raise DataError(f"{where}: images have dtype {array.dtype}; expected uint8, integer or float pixels")
    nchw = _as_nchw(array, where)
    if min(nchw.shape) == 0:
        raise DataError(f"{where}: image array of shape {list(array.shape)} holds no pixels")
    return np.ascontiguousarray(_as_uint8(nchw, where))


def as_labels(array: np.ndarray, count: int, where: str) -> np.ndarray:
    """Validate class labels: non-negative integers, one per image -> int64 [count]."""
    if array.dtype.kind not in "iu":
        raise DataError(f"{where}: labels have dtype {array.dtype}; expected integers")
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.shape != (count,):
        raise DataError(f"{where}: {count} images but labels have shape {list(array.shape)}")
    if count and array.min() < 0:
        raise DataError(f"{where}: labels must be >= 0, found {array.min()}")
    return array.astype(np.int64)


def resize_images(images: np.ndarray, size: int, where: str) -> np.ndarray:
    """Fit every image of uint8 [N, C, H, W] to size x size (shorter side, then center crop)."""
    count, channels, height, width = images.shape
    if height == width == size:
        return images
    check_allocation(count * channels * size * size, f"{count} images of {where} at {size}x{size}",
                     "lower data.image_size, or stream a folder with data.in_memory=false")
    resized = np.empty((count, channels, size, size), dtype=np.uint8)
    # Resizing in memory runs at ~25k images/s, so only really large sets earn a bar.
    for index in progress(range(count), total=count, desc=f"resizing {where}", min_items=50_000):
        # One image at a time through Pillow: the same resampler as for files in a folder.
        pixels = images[index].transpose(1, 2, 0)
        pil = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels)
        fitted = np.asarray(fit_square(pil, size))
        resized[index] = fitted[None] if channels == 1 else fitted.transpose(2, 0, 1)
    return resized


def stack_decoded(decoded: list[np.ndarray], errors: list[DataError], count: int, name: str,
                  channels: int) -> np.ndarray:
    """The images a loader decoded, as one [N, C, H, W] uint8 array with `channels` (0: the
    images decide). None decoded is one DataError; skipped ones are one warning naming the first."""
    if not decoded:
        raise DataError(f"all {count} images in {name} are unreadable; first: {errors[0]}")
    if errors:
        warnings.warn(f"skipped {len(errors)} unreadable image(s) in {name}; first: {errors[0]}",
                      stacklevel=4)  # at the caller of the loader that called this
    target = channels or infer_channels({image.shape[0] for image in decoded})
    return np.stack([convert_channels(image[None], target)[0] for image in decoded])


def infer_channels(counts: set[int]) -> int:
    """Channels to keep when the user did not ask: 1 if every image is gray (with or without
    alpha), else 3. Alpha is only kept when asked for (channels=4)."""
    return 1 if counts <= {1, 2} else 3


def convert_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """Convert uint8 [N, C, H, W] with C in 1..4 (L, LA, RGB, RGBA) to `channels` in {1, 3, 4}.

    Alpha is composited on white (transparent backgrounds of icons and sprites are white by
    convention); RGB -> gray uses the ITU-R 601 luma weights, as Pillow's convert("L") does.
    """
    have = images.shape[1]
    if have == channels:
        return images
    if channels == 4:
        color = images if have >= 3 else np.repeat(images[:, :1], 3, axis=1)
        alpha = images[:, -1:] if have in (2, 4) else np.full_like(images[:, :1], 255)
        return np.ascontiguousarray(np.concatenate([color[:, :3], alpha], axis=1))
    if have in (2, 4):
        images = _over_white(images)
    if channels == 3:
        return np.ascontiguousarray(np.repeat(images, 3, axis=1) if images.shape[1] == 1 else images)
    if images.shape[1] == 1:
        return images
    weights = np.array([299, 587, 114], dtype=np.int64).reshape(1, 3, 1, 1)
    luma = ((images.astype(np.int64) * weights).sum(axis=1, keepdims=True) + 500) // 1000
    return luma.astype(np.uint8)


def _over_white(images: np.ndarray) -> np.ndarray:
    color = images[:, :-1].astype(np.int64)
    alpha = images[:, -1:].astype(np.int64)
    blended = (color * alpha + 255 * (255 - alpha) + 127) // 255
    return blended.astype(np.uint8)


def _as_nchw(array: np.ndarray, where: str) -> np.ndarray:
    shape = list(array.shape)
    if array.ndim == 3:
        return array[:, None]
    if array.ndim != 4:
        raise DataError(f"{where}: image array has shape {shape}; expected NHW, NHWC or NCHW")
    last, second = shape[3] in _CHANNEL_COUNTS, shape[1] in _CHANNEL_COUNTS
    if last and second:
        # Both axes could hold channels ([N, 3, 4, 4] or [N, 4, 4, 3]): images are usually
        # square, so the layout whose spatial axes agree wins; a tie reads as NHWC.
        nhwc_is_square, nchw_is_square = shape[1] == shape[2], shape[2] == shape[3]
        last = nhwc_is_square or not nchw_is_square
    if last:
        return array.transpose(0, 3, 1, 2)
    if second:
        return array
    raise DataError(f"{where}: image array has shape {shape}; no axis of 1, 3 or 4 channels "
                    "in position 1 (NCHW) or 3 (NHWC)")


def _as_uint8(array: np.ndarray, where: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind == "b":
        return array.astype(np.uint8) * 255
    if array.dtype.kind in "iu":
        low, high = int(array.min()), int(array.max())
        if low >= 0 and high <= 255:
            return array.astype(np.uint8)
        if low >= 0 and high <= 65535 and array.dtype.itemsize == 2:
            return np.rint(array / 257.0).astype(np.uint8)
        raise DataError(f"{where}: integer pixels span {low}..{high}; expected 0..255 (or 16-bit)")
    if not np.isfinite(array).all():
        raise DataError(f"{where}: float pixels contain NaN or infinity")
    low, high = float(array.min()), float(array.max())
    if low >= 0.0 and high <= 1.0:
        scaled = array.astype(np.float64) * 255.0
    elif low >= -1.0 and high <= 1.0:
        scaled = (array.astype(np.float64) + 1.0) * 127.5
    elif low >= 0.0 and high <= 255.0:
        scaled = array.astype(np.float64)
    else:
        raise DataError(f"{where}: float pixels span {low:g}..{high:g}; expected [0, 1], [-1, 1] or [0, 255]")
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
