"""MNIST IDX files, raw and gzipped, alone or with their labels, and malformed ones."""

import gzip

import numpy as np
import pytest
import torch

from ganforge.data import load_dataset
from ganforge.errors import DataError
from tests.data.files import idx_bytes, write_idx


def digits(count=6, side=28, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (count, side, side), dtype=np.uint8)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_images_with_labels_beside_them(tmp_path, compress):
    images, labels = digits(), np.array([5, 0, 4, 1, 9, 2], np.uint8)
    suffix = ".gz" if compress else ""
    path = write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, compress)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, compress)
    data = load_dataset(str(path), image_size=28)
    assert data.images.shape == (6, 1, 28, 28) and torch.equal(data.images[:, 0], torch.from_numpy(images))
    assert data.labels.tolist() == [5, 0, 4, 1, 9, 2] and data.num_classes == 10


def test_idx_labels_may_be_compressed_when_images_are_not(tmp_path):
    path = write_idx(tmp_path / "t10k-images-idx3-ubyte", digits(count=2))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([3, 7], np.uint8), compress=True)
    assert load_dataset(str(path), image_size=28).labels.tolist() == [3, 7]


def test_idx_without_labels_is_unlabelled_and_resized(tmp_path):
    path = write_idx(tmp_path / "emnist-images-idx3-ubyte", digits(count=3))
    data = load_dataset(str(path), image_size=32)
    assert data.images.shape == (3, 1, 32, 32) and data.labels is None and data.num_classes == 0


def test_directory_of_idx_files_loads_the_training_split(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", digits(count=4), compress=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([1, 2, 3, 4], np.uint8), compress=True)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", digits(count=2, seed=1), compress=True)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([8, 9], np.uint8), compress=True)
    data = load_dataset(str(tmp_path), image_size=28)
    assert len(data) == 4 and data.labels.tolist() == [1, 2, 3, 4]


def test_wrong_magic_is_a_data_error(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x12\x34\x08\x03" + bytes(12 + 28 * 28))
    with pytest.raises(DataError, match="magic"):
        load_dataset(str(path))


def test_labels_file_given_as_images_fails_on_magic(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros(4, np.uint8)))  # a 1-D (labels) file under an images name
    with pytest.raises(DataError, match="x-idx3-ubyte: bad IDX magic"):
        load_dataset(str(path))


def test_unsupported_type_code(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(idx_bytes(digits(count=1), type_code=0x0D))
    with pytest.raises(DataError, match="0x0d"):
        load_dataset(str(path))


def test_size_mismatch_is_a_data_error(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(digits(count=3))[:-100])  # data shorter than the header says
    with pytest.raises(DataError, match="header says shape \\[3, 28, 28\\]"):
        load_dataset(str(path))


def test_label_count_mismatch_is_a_data_error(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", digits(count=3))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([1, 2], np.uint8))
    with pytest.raises(DataError, match="2 labels for 3 images"):
        load_dataset(str(path))


def test_corrupt_gzip_is_a_data_error(tmp_path):
    compressed = gzip.compress(idx_bytes(digits(count=3)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        load_dataset(str(path))


def test_labels_file_alone_is_explained(tmp_path):
    path = write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([1], np.uint8))
    with pytest.raises(DataError, match="labels file"):
        load_dataset(str(path))
