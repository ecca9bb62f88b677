"""CIFAR-10/100 python batches: layout, labels, class names, and malformed batches."""

import pickle

import numpy as np
import pytest
import torch

from ganforge.data import load_dataset
from ganforge.errors import DataError
from tests.data.files import cifar_images, write_cifar_batch


def test_cifar10_directory_loads_training_batches_in_order(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    first, second, test = cifar_images(3, seed=1), cifar_images(2, seed=2), cifar_images(4, seed=3)
    write_cifar_batch(root / "data_batch_1", first, [0, 1, 2])
    write_cifar_batch(root / "data_batch_2", second, [9, 3])
    write_cifar_batch(root / "test_batch", test, [5, 5, 5, 5])
    names = [name.encode() for name in ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                        "horse", "ship", "truck"]]
    (root / "batches.meta").write_bytes(pickle.dumps({b"label_names": names, b"num_vis": 3072}, protocol=2))
    data = load_dataset(str(root), image_size=32)
    assert data.images.shape == (5, 3, 32, 32) and data.num_classes == 10
    assert data.labels.tolist() == [0, 1, 2, 9, 3]
    assert torch.equal(data.images, torch.from_numpy(np.concatenate([first, second])))
    assert data.class_names[0] == "airplane" and data.class_names[9] == "truck"


def test_cifar_rows_are_red_then_green_then_blue_planes(tmp_path):
    row = np.concatenate([np.full(1024, 200), np.full(1024, 100), np.full(1024, 7)]).astype(np.uint8)
    path = write_cifar_batch(tmp_path / "data_batch_1", row.reshape(1, 3, 32, 32), [4])
    data = load_dataset(str(path), image_size=32)
    assert data.images[0, :, 5, 9].tolist() == [200, 100, 7] and data.class_names is None


def test_single_test_batch_with_str_keys_and_resize(tmp_path):
    path = write_cifar_batch(tmp_path / "test_batch", cifar_images(2), [1, 2], bytes_keys=False)
    data = load_dataset(str(path), image_size=16, channels=1)
    assert data.images.shape == (2, 1, 16, 16) and data.labels.tolist() == [1, 2]


def test_cifar100_train_file_uses_fine_labels(tmp_path):
    root = tmp_path / "cifar-100-python"
    path = write_cifar_batch(root / "train", cifar_images(3), [99, 0, 42], label_key="fine_labels",
                             extra={"coarse_labels": [19, 0, 7]})
    fine_names = [f"class{index}".encode() for index in range(100)]
    (root / "meta").write_bytes(pickle.dumps({b"fine_label_names": fine_names}, protocol=2))
    for source in (path, root):
        data = load_dataset(str(source), image_size=32)
        assert data.labels.tolist() == [99, 0, 42] and data.num_classes == 100
        assert data.class_names[42] == "class42"


def test_renamed_batch_is_recognised_as_a_pickle(tmp_path):
    path = write_cifar_batch(tmp_path / "my_cifar.pkl", cifar_images(1), [3])
    assert load_dataset(str(path), image_size=32).labels.tolist() == [3]


def test_truncated_batch_is_a_data_error(tmp_path):
    path = write_cifar_batch(tmp_path / "data_batch_1", cifar_images(4), [0, 1, 2, 3])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="data_batch_1: not a readable pickle"):
        load_dataset(str(path))


@pytest.mark.parametrize("batch, message", [
    ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, "uint8 \\[N, 3072\\]"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "uint8 \\[N, 3072\\]"),
    ({b"data": np.zeros((2, 3072), np.uint8)}, "no 'labels'"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "labels have shape"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "outside the 10"),
    ([1, 2, 3], "pickled dict"),
])
def test_malformed_batches_are_data_errors(tmp_path, batch, message):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=message):
        load_dataset(str(path))
