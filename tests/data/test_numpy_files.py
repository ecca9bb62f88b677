"""`.npz` and `.npy` sources: layouts, value ranges, labels, and malformed arrays."""

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ganforge.data import ImageDataset, load_dataset
from ganforge.errors import DataError


def rgb_images(count=4, size=6, seed=0):
    """uint8 NHWC images whose three channels differ, so a layout mix-up shows."""
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def save_npz(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_nhwc_and_nchw_give_the_same_images(tmp_path):
    nhwc = rgb_images()
    from_nhwc = load_dataset(save_npz(tmp_path / "a.npz", images=nhwc), image_size=6)
    from_nchw = load_dataset(save_npz(tmp_path / "b.npz", images=nhwc.transpose(0, 3, 1, 2)), image_size=6)
    assert from_nhwc.images.shape == (4, 3, 6, 6)
    assert torch.equal(from_nhwc.images, torch.from_numpy(nhwc.transpose(0, 3, 1, 2).copy()))
    assert torch.equal(from_nhwc.images, from_nchw.images)


@pytest.mark.parametrize("shape, layout", [((2, 4, 4, 3), "NHWC"), ((2, 3, 4, 4), "NCHW"),
                                           ((2, 4, 4, 1), "NHWC"), ((2, 1, 4, 4), "NCHW")])
def test_small_ambiguous_shapes_pick_the_square_layout(tmp_path, shape, layout):
    array = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    data = load_dataset(save_npz(tmp_path / "a.npz", images=array), image_size=4)
    expected = array.transpose(0, 3, 1, 2) if layout == "NHWC" else array
    assert torch.equal(data.images, torch.from_numpy(np.ascontiguousarray(expected)))


def test_nhw_is_grayscale_and_labels_are_read(tmp_path):
    images = np.arange(2 * 5 * 5, dtype=np.uint8).reshape(2, 5, 5)
    data = load_dataset(save_npz(tmp_path / "g.npz", x=images, y=np.array([3, 1])), image_size=5)
    assert data.images.shape == (2, 1, 5, 5) and torch.equal(data.images[:, 0], torch.from_numpy(images))
    assert data.labels.tolist() == [3, 1] and data.labels.dtype == torch.int64 and data.num_classes == 4


def test_float_ranges_are_detected(tmp_path):
    unit = np.array([0.0, 0.5, 1.0, 1.0], dtype=np.float32).reshape(1, 2, 2)
    signed = np.array([-1.0, 0.0, 1.0, 0.5], dtype=np.float64).reshape(1, 2, 2)
    byte_range = np.array([0.0, 10.0, 128.0, 255.0], dtype=np.float32).reshape(1, 2, 2)
    assert load_dataset(save_npz(tmp_path / "u.npz", images=unit), image_size=2).images.flatten().tolist() \
        == [0, 128, 255, 255]
    assert load_dataset(save_npz(tmp_path / "s.npz", images=signed), image_size=2).images.flatten().tolist() \
        == [0, 128, 255, 191]
    assert load_dataset(save_npz(tmp_path / "b.npz", images=byte_range), image_size=2).images.flatten().tolist() \
        == [0, 10, 128, 255]


def test_npy_is_an_unlabelled_image_array(tmp_path):
    np.save(tmp_path / "a.npy", rgb_images(count=3, size=8))
    data = load_dataset(str(tmp_path / "a.npy"), image_size=4)
    assert data.images.shape == (3, 3, 4, 4) and data.labels is None


def test_channels_conversion_of_arrays(tmp_path):
    rgba = np.zeros((1, 2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 255
    data = load_dataset(save_npz(tmp_path / "a.npz", images=rgba), image_size=2)
    assert data.channels == 3 and data.images[0, :, 0, 0].tolist() == [255, 0, 0]
    assert load_dataset(str(tmp_path / "a.npz"), image_size=2, channels=1).images[0, 0, 0, 0] == 76


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((2, 3, 4, 4, 1), np.uint8)}, "shape"),
    ({"images": np.zeros((2, 16), np.uint8)}, "shape"),
    ({"images": np.array([["ab", "cd"], ["ef", "gh"]] * 2).reshape(1, 2, 4)}, "dtype"),
    ({"images": np.zeros((2, 4, 4), np.complex64)}, "dtype"),
    ({"images": np.full((2, 4, 4), 300.0)}, "span"),
    ({"images": np.full((2, 4, 4), np.nan)}, "NaN"),
    ({"images": np.full((2, 4, 4), -5, np.int32)}, "span"),
    ({"images": np.zeros((2, 6, 6, 5), np.uint8)}, "channels"),
    ({"images": np.zeros((0, 4, 4), np.uint8)}, "no pixels"),
    ({"images": np.zeros((2, 4, 4), np.uint8), "labels": np.array([1, 2, 3])}, "labels"),
    ({"images": np.zeros((2, 4, 4), np.uint8), "labels": np.array([0.5, 1.0])}, "labels"),
    ({"images": np.zeros((2, 4, 4), np.uint8), "labels": np.array([0, -1])}, "labels"),
    ({"pictures": np.zeros((2, 4, 4), np.uint8), "other": np.zeros(2)}, "'images' or 'x'"),
])
def test_malformed_npz_is_a_data_error(tmp_path, arrays, message):
    path = save_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message) as caught:
        load_dataset(path, image_size=4)
    assert path in str(caught.value)


def test_object_arrays_are_never_unpickled(tmp_path):
    objects = np.empty(2, dtype=object)
    objects[:] = [{"a": 1}, [2]]
    np.savez(tmp_path / "objects.npz", images=objects)
    with pytest.raises(DataError, match="objects.npz"):
        load_dataset(str(tmp_path / "objects.npz"))


def test_truncated_npz_is_a_data_error(tmp_path):
    np.savez(tmp_path / "full.npz", images=rgb_images(count=50, size=16))
    data = (tmp_path / "full.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.npz"):
        load_dataset(str(tmp_path / "cut.npz"))


# --- property tests: any array either loads with the right count and size, or is a DataError.

DTYPES = [np.uint8, np.int16, np.int64, np.uint16, np.float32, np.float64, np.bool_, np.complex64, "U2", "S3"]


@st.composite
def any_array(draw):
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=1, max_size=5)))
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    return draw(hnp.arrays(dtype, shape))


def load_array(array, **arrays):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.npz"
        np.savez(path, images=array, **arrays)
        return load_dataset(str(path), image_size=4)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_array())
def test_any_array_loads_correctly_or_raises_data_error(array):
    try:
        data = load_array(array)
    except DataError:
        # These can never be images, so they must be refused.
        return
    assert isinstance(data, ImageDataset)
    assert array.ndim in (3, 4) and array.dtype.kind in "biuf" and 0 not in array.shape
    assert len(data) == array.shape[0] and data.images.shape[1:] in {(1, 4, 4), (3, 4, 4)}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_array())
def test_arrays_that_cannot_be_images_are_refused(array):
    if array.ndim in (3, 4) and array.dtype.kind in "biuf" and 0 not in array.shape:
        return
    with pytest.raises(DataError):
        load_array(array)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count=st.integers(1, 4), height=st.integers(5, 9), width=st.integers(5, 9),
       channels=st.sampled_from([1, 3]), channels_last=st.booleans(), labelled=st.booleans())
def test_valid_uint8_arrays_load_with_their_count_and_channels(count, height, width, channels, channels_last,
                                                               labelled):
    shape = (count, height, width, channels) if channels_last else (count, channels, height, width)
    array = np.random.default_rng(count * height).integers(0, 256, shape, dtype=np.uint8)
    labels = {"labels": np.arange(count) % 3} if labelled else {}
    data = load_array(array, **labels)
    assert data.images.shape == (count, channels, 4, 4) and data.images.dtype == torch.uint8
    assert (data.labels is not None) == labelled
