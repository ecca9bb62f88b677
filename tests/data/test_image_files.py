"""Decoding single image files: modes, channel handling, resizing, and bad or hostile files."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import load_dataset
from ganforge.data import images as image_module
from ganforge.errors import DataError
from tests.data.files import noise_image, png_header_only, solid, truncated_copy


def load_one(path, **options):
    return load_dataset(str(path), **options)


def pixel(data, y=0, x=0):
    return data.images[0, :, y, x].tolist()


def test_gray_png_stays_one_channel(tmp_path):
    data = load_one(solid(tmp_path / "g.png", 77, mode="L"), image_size=8)
    assert data.images.shape == (1, 1, 8, 8) and pixel(data) == [77]
    assert data.labels is None and data.num_classes == 0


def test_rgb_png_keeps_colour_exactly(tmp_path):
    data = load_one(solid(tmp_path / "c.png", (10, 200, 30)), image_size=8)
    assert data.images.shape == (1, 3, 8, 8) and pixel(data) == [10, 200, 30]


def test_rgba_is_composited_on_white_unless_alpha_is_asked_for(tmp_path):
    pixels = np.zeros((8, 8, 4), np.uint8)
    pixels[:, :4] = (255, 0, 0, 128)  # half-transparent red
    pixels[:, 4:] = (0, 0, 255, 0)    # fully transparent (colour must not show)
    path = tmp_path / "a.png"
    Image.fromarray(pixels).save(path)
    flat = load_one(path, image_size=8)
    assert flat.channels == 3
    assert pixel(flat, 0, 0) == [255, 127, 127] and pixel(flat, 0, 7) == [255, 255, 255]
    kept = load_one(path, image_size=8, channels=4)
    assert pixel(kept, 0, 0) == [255, 0, 0, 128] and pixel(kept, 0, 7)[3] == 0


def test_palette_png_with_gray_palette_is_single_channel(tmp_path):
    image = Image.fromarray(np.tile(np.arange(8, dtype=np.uint8) * 30, (8, 1)), mode="L").convert("P")
    image.save(tmp_path / "gray_palette.png")
    assert Image.open(tmp_path / "gray_palette.png").mode == "P"
    data = load_one(tmp_path / "gray_palette.png", image_size=8)
    assert data.channels == 1 and data.images[0, 0, 0].tolist() == [0, 30, 60, 90, 120, 150, 180, 210]


def test_palette_png_with_colours_is_rgb(tmp_path):
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 200, 10, 20] + [0] * 762)
    image.save(tmp_path / "palette.png")
    data = load_one(tmp_path / "palette.png", image_size=8)
    assert data.channels == 3 and pixel(data) == [200, 10, 20]


def test_palette_transparency_is_composited_on_white(tmp_path):
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 200, 10, 20] + [0] * 762)
    image.info["transparency"] = 1
    image.save(tmp_path / "transparent.png", transparency=1)
    assert pixel(load_one(tmp_path / "transparent.png", image_size=8)) == [255, 255, 255]


def test_sixteen_bit_png_is_scaled_not_clipped_or_truncated(tmp_path):
    wide = np.array([[1000, 30000, 60000, 65535]] * 4, dtype=np.uint16)
    Image.fromarray(wide).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    data = load_one(tmp_path / "deep.png", image_size=4)
    # round(v / 257): clipping would give 255s, keeping the low byte would give 232, 48, 96, 255.
    assert data.channels == 1 and data.images[0, 0, 0].tolist() == [4, 117, 233, 255]


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = solid(tmp_path / "cmyk.jpg", (0, 255, 255, 0), size=(16, 16), mode="CMYK", quality=95)
    assert Image.open(path).mode == "CMYK"
    data = load_one(path, image_size=16)
    red, green, blue = pixel(data, 8, 8)
    assert data.channels == 3 and red > 245 and green < 10 and blue < 10


def test_animated_gif_uses_the_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50)
    assert Image.open(path).n_frames == 2
    red, green, blue = pixel(load_one(path, image_size=8))
    assert red > 240 and green < 15 and blue < 15


def test_channel_conversion_on_request(tmp_path):
    gray = load_one(solid(tmp_path / "g.png", 77, mode="L"), image_size=8, channels=3)
    assert pixel(gray) == [77, 77, 77]
    red = load_one(solid(tmp_path / "r.png", (255, 0, 0)), image_size=8, channels=1)
    assert red.channels == 1 and pixel(red) == [76]  # ITU-R 601 luma: 0.299 * 255
    opaque = load_one(solid(tmp_path / "o.png", 50, mode="L"), image_size=8, channels=4)
    assert pixel(opaque) == [50, 50, 50, 255]


@pytest.mark.parametrize("size", [(60, 20), (20, 60)])
def test_non_square_images_are_scaled_then_center_cropped(tmp_path, size):
    # Three bands along the long side: red, green, blue. The center crop keeps only green.
    wide = size[0] > size[1]
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    for band, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        if wide:
            pixels[:, band * 20:(band + 1) * 20] = colour
        else:
            pixels[band * 20:(band + 1) * 20, :] = colour
    Image.fromarray(pixels).save(tmp_path / "band.png")
    data = load_one(tmp_path / "band.png", image_size=10)
    assert data.images.shape == (1, 3, 10, 10)
    inner = data.images[0, :, 2:8, 2:8]
    assert (inner[1] == 255).all() and (inner[0] == 0).all() and (inner[2] == 0).all()
    # Edges may blend a little with the bands just outside the crop, but stay mostly green.
    assert data.images[0, 1].float().mean() > 230


def test_downscaling_is_antialiased(tmp_path):
    # A one-pixel checkerboard averages to mid-gray; point sampling would give 0s or 255s.
    board = (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8)
    Image.fromarray(board).save(tmp_path / "board.png")
    data = load_one(tmp_path / "board.png", image_size=8)
    assert data.images.min() > 100 and data.images.max() < 155


def zero_byte_png(folder):
    (folder / "empty.png").write_bytes(b"")
    return folder / "empty.png"


def text_named_png(folder):
    (folder / "text.png").write_text("this is not an image")
    return folder / "text.png"


def truncated_png(folder):
    return truncated_copy(noise_image(folder / "src" / "n.png"), folder / "cut.png")


def truncated_jpeg(folder):
    return truncated_copy(noise_image(folder / "src" / "n.jpg"), folder / "cut.jpg")


@pytest.mark.parametrize("make", [zero_byte_png, text_named_png, truncated_png, truncated_jpeg])
def test_unreadable_files_raise_data_error_naming_the_file(tmp_path, make):
    path = make(tmp_path)
    with pytest.raises(DataError) as caught:
        load_one(path, image_size=8)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_decompression_bomb_header_is_refused(tmp_path):
    path = png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    with pytest.raises(DataError, match="bomb.png"):
        load_one(path, image_size=8)


def test_our_pixel_limit_is_checked_before_decoding(tmp_path):
    # 12000 x 12000 passes Pillow's hard limit (it only warns) but not ours.
    path = png_header_only(tmp_path / "large.png", 12_000, 12_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(DataError, match="decompression bomb"):
            load_one(path, image_size=8)


def test_pixel_limit_applies_to_real_images(tmp_path, monkeypatch):
    path = solid(tmp_path / "ok.png", (1, 2, 3), size=(16, 16))
    assert len(load_one(path, image_size=8)) == 1
    monkeypatch.setattr(image_module, "MAX_PIXELS", 255)
    with pytest.raises(DataError, match="ok.png.*16x16"):
        load_one(path, image_size=8)


def test_single_image_dataset_is_writable_uint8(tmp_path):
    data = load_one(solid(tmp_path / "x.bmp", (1, 2, 3)), image_size=4)
    assert data.images.dtype == torch.uint8 and data.images.is_contiguous()
    data.images += 1  # must own its memory
