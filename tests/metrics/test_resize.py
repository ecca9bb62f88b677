import math

import torch

from ganforge.metrics.resize import resize_bilinear_tf1


def tf1_pixel(image, y, x, out_h, out_w):
    """One output pixel of TF 1.x ResizeBilinear, written out: source = index * in / out."""
    in_h, in_w = image.shape
    sy, sx = y * in_h / out_h, x * in_w / out_w
    y0, x0 = math.floor(sy), math.floor(sx)
    y1, x1 = min(y0 + 1, in_h - 1), min(x0 + 1, in_w - 1)
    fy, fx = sy - y0, sx - x0
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def test_doubling_repeats_the_last_row_like_tf1():
    image = torch.tensor([[0.0, 4.0], [8.0, 12.0]])[None, None]
    expected = torch.tensor([[0.0, 2.0, 4.0, 4.0],
                             [4.0, 6.0, 8.0, 8.0],
                             [8.0, 10.0, 12.0, 12.0],
                             [8.0, 10.0, 12.0, 12.0]])
    torch.testing.assert_close(resize_bilinear_tf1(image, (4, 4))[0, 0], expected)


def test_matches_pixelwise_definition_up_and_down():
    image = torch.rand(1, 1, 5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for out_h, out_w in [(11, 3), (299, 13)]:
        result = resize_bilinear_tf1(image, (out_h, out_w))[0, 0]
        expected = torch.tensor([[tf1_pixel(image[0, 0], y, x, out_h, out_w)
                                  for x in range(out_w)] for y in range(out_h)], dtype=torch.float64)
        torch.testing.assert_close(result, expected, rtol=1e-6, atol=1e-6)


def test_same_size_is_identity_and_batch_dims_are_kept():
    images = torch.rand(3, 2, 8, 8)
    assert resize_bilinear_tf1(images, (8, 8)) is images
    assert resize_bilinear_tf1(images, (299, 299)).shape == (3, 2, 299, 299)
