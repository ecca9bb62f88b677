"""Bilinear resizing as TensorFlow 1.x's ResizeBilinear computes it (align_corners=False and no
half-pixel centres): output pixel i samples input coordinate i * in/out. The FID Inception graph
resizes this way; torch's interpolate(align_corners=False) samples (i + 0.5) * in/out - 0.5 instead,
which shifts the image by a fraction of a pixel and changes FID."""

import torch


def _axis_weights(n_in: int, n_out: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # TF computes the scale and source coordinates in float32; doing the same keeps the
    # floor() decisions identical.
    scale = torch.tensor(n_in / n_out, dtype=torch.float32)
    source = torch.arange(n_out, dtype=torch.float32) * scale
    lower = source.floor().long().clamp(max=n_in - 1)
    upper = (lower + 1).clamp(max=n_in - 1)
    fraction = source - lower.float()
    return lower.to(device), upper.to(device), fraction.to(device)


def resize_bilinear_tf1(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize float images [N, C, H, W] to `size` (height, width) like TF 1.x ResizeBilinear."""
    height, width = images.shape[-2:]
    if (height, width) == tuple(size):
        return images
    top, bottom, fy = _axis_weights(height, size[0], images.device)
    left, right, fx = _axis_weights(width, size[1], images.device)
    fy, fx = fy.to(images.dtype)[:, None], fx.to(images.dtype)
    rows = images[..., top, :] * (1 - fy) + images[..., bottom, :] * fy
    return rows[..., left] * (1 - fx) + rows[..., right] * fx
