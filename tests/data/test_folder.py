"""Image folders: discovery, class sub-folders, channel inference and bad files."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import load_dataset
from ganforge.data import progress as progress_module
from ganforge.errors import DataError
from tests.data.files import solid, truncated_copy, noise_image

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def test_class_subfolders_become_sorted_labels(tmp_path):
    for index in range(3):
        solid(tmp_path / "dog" / f"d{index}.png", BLUE)
    solid(tmp_path / "dog" / "nested" / "deep.jpg", BLUE, quality=100)  # recursive
    for index in range(2):
        solid(tmp_path / "cat" / f"c{index}.png", RED)
    solid(tmp_path / "cat" / "._c0.png", GREEN)  # macOS resource fork: hidden, skipped
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    data = load_dataset(str(tmp_path), image_size=8)
    assert data.class_names == ["cat", "dog"] and data.num_classes == 2
    assert data.labels.tolist() == [0, 0, 1, 1, 1, 1] and data.name == str(tmp_path)
    # Labels line up with the pixels: cats red, dogs blue.
    colours = data.images[:, :, 4, 4].float()
    assert (colours[data.labels == 0, 0] > 240).all() and (colours[data.labels == 0, 2] < 15).all()
    assert (colours[data.labels == 1, 2] > 240).all() and (colours[data.labels == 1, 0] < 15).all()


def test_flat_folder_is_unlabelled_and_recursive(tmp_path):
    solid(tmp_path / "a.png", RED)
    solid(tmp_path / "sub" / "b.png", BLUE)
    data = load_dataset(str(tmp_path), image_size=8)
    assert len(data) == 2 and data.labels is None and data.num_classes == 0 and data.class_names is None


def test_single_subfolder_is_not_a_class(tmp_path):
    for index in range(3):
        solid(tmp_path / "img_align_celeba" / f"{index:06d}.jpg", RED)
    data = load_dataset(str(tmp_path), image_size=8)
    assert len(data) == 3 and data.labels is None


def test_loose_images_beside_class_folders_are_an_error(tmp_path):
    solid(tmp_path / "cat" / "c.png", RED)
    solid(tmp_path / "dog" / "d.png", BLUE)
    solid(tmp_path / "stray.png", GREEN)
    with pytest.raises(DataError, match="stray.png"):
        load_dataset(str(tmp_path))


def test_empty_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match=f"no images found in {tmp_path}"):
        load_dataset(str(tmp_path))


def test_gray_folder_infers_one_channel_and_mixed_infers_three(tmp_path):
    solid(tmp_path / "gray" / "a.png", 10, mode="L")
    solid(tmp_path / "gray" / "b.png", 20, mode="L")
    assert load_dataset(str(tmp_path / "gray"), image_size=8).channels == 1
    solid(tmp_path / "gray" / "c.png", RED)
    mixed = load_dataset(str(tmp_path / "gray"), image_size=8)
    assert mixed.channels == 3 and mixed.images[0, :, 0, 0].tolist() == [10, 10, 10]
    assert mixed.images[2, :, 0, 0].tolist() == list(RED)


def test_rgba_folder_is_rgb_unless_alpha_is_asked_for(tmp_path):
    solid(tmp_path / "a.png", (0, 0, 0, 0), mode="RGBA")
    solid(tmp_path / "b.png", (0, 0, 0, 255), mode="RGBA")
    flat = load_dataset(str(tmp_path), image_size=8)
    assert flat.channels == 3 and flat.images[:, :, 0, 0].tolist() == [[255] * 3, [0] * 3]
    assert load_dataset(str(tmp_path), image_size=8, channels=4).images[:, 3, 0, 0].tolist() == [0, 255]


def test_bad_file_in_folder_names_the_file(tmp_path):
    solid(tmp_path / "good.png", RED)
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(DataError, match="zero.png"):
        load_dataset(str(tmp_path))


def test_skip_bad_skips_counts_and_keeps_labels_aligned(tmp_path):
    solid(tmp_path / "cat" / "c0.png", RED)
    (tmp_path / "cat" / "c1.png").write_bytes(b"")
    truncated_copy(noise_image(tmp_path / "src.png"), tmp_path / "cat" / "c2.png")
    (tmp_path / "src.png").unlink()
    solid(tmp_path / "dog" / "d0.png", BLUE)
    (tmp_path / "dog" / "d1.jpg").write_text("text, not a JPEG")
    solid(tmp_path / "dog" / "d2.png", BLUE)
    with pytest.warns(UserWarning, match="skipped 3"):
        data = load_dataset(str(tmp_path), image_size=8, skip_bad=True)
    assert len(data) == 3 and data.skipped == 3
    assert data.labels.tolist() == [0, 1, 1]
    assert data.images[:, 0, 4, 4].tolist() == [255, 0, 0]  # the red cat, then two blue dogs


def test_skip_bad_with_only_bad_files_is_an_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.png").write_text("nope")
    with pytest.raises(DataError, match="all 2 images"):
        load_dataset(str(tmp_path), skip_bad=True)


def test_folder_and_array_paths_resize_identically(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (3, 40, 30, 3), dtype=np.uint8)
    for index, image in enumerate(pixels):
        Image.fromarray(image).save(tmp_path / f"{index}.png")
    np.save(tmp_path / "same.npy", pixels)
    from_folder = load_dataset(str(tmp_path), image_size=16)
    from_array = load_dataset(str(tmp_path / "same.npy"), image_size=16)
    assert torch.equal(from_folder.images, from_array.images)


def test_large_folders_show_a_progress_bar(tmp_path, monkeypatch, capsys):
    for index in range(3):
        solid(tmp_path / f"{index}.png", RED)
    load_dataset(str(tmp_path), image_size=8)
    assert "loading" not in capsys.readouterr().err
    monkeypatch.setattr(progress_module, "MIN_ITEMS_FOR_BAR", 2)
    load_dataset(str(tmp_path), image_size=8)
    assert "loading" in capsys.readouterr().err
