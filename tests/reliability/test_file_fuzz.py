"""Any bytes under any data file name give a DataError or a well-formed dataset, never another
exception. The named bad-file cases (truncated PNG/JPEG, zero bytes, text named .png, bombs,
16-bit, CMYK, palette, animated, wrong IDX magic or size, truncated CIFAR, wrong npz dtype or
shape) are in tests/data; here every format also meets random and mutated bytes."""
import gzip
import io
import struct
import tempfile
import tokenize
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from ganforge.data import load_dataset
from ganforge.data.dataset import ImageDataset
from ganforge.errors import DataError
from tests.data.files import cifar_images, idx_bytes, write_cifar_batch


def _image_bytes(fmt: str, **save_args) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def _animated_gif() -> bytes:
    frames = [Image.new("P", (8, 8), i) for i in (1, 2)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


def _npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, images=np.arange(3 * 8 * 8, dtype=np.uint8).reshape(3, 8, 8), labels=np.array([0, 1, 1]))
    return buffer.getvalue()


def _npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 8, 8, 3), np.float32))
    return buffer.getvalue()


def _cifar() -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return write_cifar_batch(Path(folder) / "b", cifar_images(2), [3, 7]).read_bytes()


def _known_bug(path: Path, error: Exception) -> bool:
    """No tolerated exceptions remain: every failure must be a DataError."""
    return False


IDX = idx_bytes(np.arange(3 * 6 * 5, dtype=np.uint8).reshape(3, 6, 5))
SEEDS = {
    "image.png": _image_bytes("PNG"), "image.jpg": _image_bytes("JPEG"), "image.bmp": _image_bytes("BMP"),
    "anim.gif": _animated_gif(), "images.npz": _npz(), "images.npy": _npy(),
    "train-images-idx3-ubyte": IDX, "train-images-idx3-ubyte.gz": gzip.compress(IDX, mtime=0),
    "data_batch_1": _cifar(),
}


@st.composite
def damaged(draw, original: bytes):
    """Random bytes, or the real file cut short, with bytes overwritten or inserted."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.binary(max_size=512))
    data = bytearray(original)
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))):]
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data)))
        byte = draw(st.integers(0, 255))
        if draw(st.booleans()) and at < len(data):
            data[at] = byte
        else:
            data.insert(at, byte)
    return bytes(data)


def test_every_seed_file_loads_before_damage():
    with tempfile.TemporaryDirectory() as folder:
        for name, content in SEEDS.items():
            (Path(folder) / name).write_bytes(content)
            assert len(load_dataset(str(Path(folder) / name), image_size=8)) >= 1, name


@pytest.mark.parametrize("name", sorted(SEEDS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_bytes_give_a_data_error_or_a_well_formed_dataset(name, data):
    content = data.draw(damaged(SEEDS[name]))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            dataset = load_dataset(str(path), image_size=8)
        except DataError as e:
            assert str(e)
            event("DataError")
            return
        except Exception as e:
            if not _known_bug(path, e):
                raise
            event("known bug")
            return
    event("loaded")
    assert isinstance(dataset, ImageDataset) and len(dataset) >= 1
    images = dataset.images
    assert images.dtype == torch.uint8 and images.shape[1] in (1, 3) and tuple(images.shape[2:]) == (8, 8)
    if dataset.labels is not None:
        assert dataset.labels.shape == (len(images),) and dataset.labels.dtype == torch.int64
        assert 0 <= int(dataset.labels.min()) and int(dataset.labels.max()) < dataset.num_classes


def _zip_directory_field(data: bytes, offset: int, value: int) -> bytes:
    """Overwrite a 16-bit field of every central-directory record of a zip (an .npz)."""
    data, at = bytearray(data), 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        struct.pack_into("<H", data, at + offset, value)
        at += 4
    return bytes(data)


@pytest.mark.parametrize("name, damage", [
    ("images.npy", lambda npy, npz: npy.replace(b"(2, 8, 8, 3)", b"(2, 8, 8, 3 ")),
    ("images.npz", lambda npy, npz: _zip_directory_field(npz, 10, 99)),  # compression method 99
    ("images.npz", lambda npy, npz: _zip_directory_field(npz, 8, 1)),    # "encrypted" flag
])
def test_malformed_numpy_containers_are_data_errors(tmp_path, name, damage):
    path = tmp_path / name
    path.write_bytes(damage(SEEDS["images.npy"], SEEDS["images.npz"]))
    with pytest.raises(DataError, match=name):
        load_dataset(str(path), image_size=8)


def test_idx_header_whose_size_overflows_is_a_data_error(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 3]) + b"".join(struct.pack(">I", n) for n in (1 << 22, 1 << 21, 1 << 21)))
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_dataset(str(path), image_size=8)
