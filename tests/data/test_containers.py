"""Container formats read in place: stylegan2-ada zip, LMDB, Hugging Face dataset, tar shards.
Each must give the same pixels and labels as decoding its images one by one, in memory and
streamed, and refuse bad input with a one-line DataError naming the file."""

import gzip
import json
import sys
import zipfile

import numpy as np
import pytest
import torch

from ganforge.data import load_dataset
from ganforge.data.containers import open_container
from ganforge.data.encoded import EncodedStream
from ganforge.data.images import decode_image
from ganforge.errors import DataError
from tests.data.containers import (encoded_images, write_hf, write_lmdb, write_shards,
                                   write_stylegan_zip)

LABELS = [2, 0, 1, 2, 1, 0, 0]
IMAGES = encoded_images(len(LABELS))


def _zip(tmp_path, images, labels):
    return write_stylegan_zip(tmp_path / "data.zip", images, labels)


def _lmdb(tmp_path, images, labels):
    pytest.importorskip("lmdb")
    return write_lmdb(tmp_path / "data.lmdb", images, labels)


def _hf(tmp_path, images, labels):
    pytest.importorskip("datasets")
    return write_hf(tmp_path / "hf", images, labels)


def _shards(tmp_path, images, labels):
    write_shards(tmp_path / "shards", images, labels, per_shard=3)
    return tmp_path / "shards"


WRITERS = {"zip": _zip, "lmdb": _lmdb, "hf": _hf, "shards": _shards}


def _expected(images, size=12):
    return torch.from_numpy(np.stack([decode_image(data, size, "x") for data in images]))


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_loads_every_image_in_order_with_its_label(tmp_path, fmt):
    path = WRITERS[fmt](tmp_path, IMAGES, LABELS)
    data = load_dataset(str(path), image_size=12)
    assert torch.equal(data.images, _expected(IMAGES))
    assert data.labels.tolist() == LABELS and data.num_classes == 3 and data.name == str(path)


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_unlabelled(tmp_path, fmt):
    path = WRITERS[fmt](tmp_path, IMAGES[:4], None)
    data = load_dataset(str(path), image_size=6, channels=1)
    assert data.labels is None and data.num_classes == 0 and tuple(data.images.shape) == (4, 1, 6, 6)


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_streamed_items_equal_the_in_memory_images(tmp_path, fmt):
    path = WRITERS[fmt](tmp_path, IMAGES, LABELS)
    stream = EncodedStream(open_container(path), image_size=12, channels=3)
    loader = torch.utils.data.DataLoader(stream, batch_size=4, num_workers=1)  # a worker process
    pixels, labels, errors = zip(*[(x, y, e) for batch in loader for x, y, e in zip(*batch)])
    assert torch.equal(torch.stack(pixels), _expected(IMAGES))
    assert [int(y) for y in labels] == LABELS and not any(errors)


def test_stylegan_zip_deflated_members_and_nested_names(tmp_path):
    path = write_stylegan_zip(tmp_path / "d.zip", IMAGES, LABELS, compression=zipfile.ZIP_DEFLATED)
    assert torch.equal(load_dataset(str(path), image_size=12).images, _expected(IMAGES))


def test_zip_class_names_and_missing_label(tmp_path):
    with zipfile.ZipFile(tmp_path / "named.zip", "w") as archive:
        archive.writestr("a.png", IMAGES[0])
        archive.writestr("b.png", IMAGES[1])
        archive.writestr("dataset.json", json.dumps({"labels": [["a.png", 1], ["b.png", 0]],
                                                     "class_names": ["cat", "dog"]}))
    data = load_dataset(str(tmp_path / "named.zip"), image_size=12)
    assert data.class_names == ["cat", "dog"] and data.labels.tolist() == [1, 0]
    with zipfile.ZipFile(tmp_path / "partial.zip", "w") as archive:
        archive.writestr("a.png", IMAGES[0])
        archive.writestr("b.png", IMAGES[1])
        archive.writestr("dataset.json", json.dumps({"labels": [["a.png", 1]]}))
    with pytest.raises(DataError, match=r"partial.zip:dataset.json: no label for b.png"):
        load_dataset(str(tmp_path / "partial.zip"))


@pytest.mark.parametrize("labels, message", [
    ("[[\"00000/img00000000.png\", [0.5, 0.5]]]", "only class indices"),
    ("{\"a\": 1}", "pairs"), ("[[\"00000/img00000000.png\", -1]]", "only class indices"),
    ("[[\"00000/img00000000.png\", 1000000000000000000000000]]", "only class indices"),
])
def test_zip_labels_other_than_class_indices_are_refused(tmp_path, labels, message):
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as archive:
        archive.writestr("00000/img00000000.png", IMAGES[0])
        archive.writestr("dataset.json", '{"labels": ' + labels + "}")
    with pytest.raises(DataError, match=message):
        load_dataset(str(tmp_path / "d.zip"))


def test_corrupt_zip_member_names_the_member_and_skip_bad_skips_it(tmp_path):
    images = list(IMAGES)
    images[3] = images[3][:40]  # a truncated PNG inside an intact archive
    path = write_stylegan_zip(tmp_path / "d.zip", images, LABELS)
    with pytest.raises(DataError, match=r"d\.zip:00000/img00000003\.png"):
        load_dataset(str(path), image_size=12)
    with pytest.warns(UserWarning, match="skipped 1"):
        data = load_dataset(str(path), image_size=12, skip_bad=True)
    assert data.skipped == 1 and data.labels.tolist() == LABELS[:3] + LABELS[4:]
    assert torch.equal(data.images, _expected(IMAGES[:3] + IMAGES[4:]))


def test_zip_with_no_images(tmp_path):
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as archive:
        archive.writestr("readme.txt", "x")
    with pytest.raises(DataError, match="d.zip holds no images"):
        load_dataset(str(tmp_path / "d.zip"))


def test_lmdb_labels_and_subdir_false_file(tmp_path):
    lmdb = pytest.importorskip("lmdb")
    env = lmdb.open(str(tmp_path / "one.mdb"), subdir=False, map_size=16 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"b", IMAGES[1])
        txn.put(b"a", IMAGES[0])
        txn.put(b"dataset.json", json.dumps({"labels": [["a", 4], ["b", 1]]}).encode())
    env.close()
    data = load_dataset(str(tmp_path / "one.mdb"), image_size=12)
    assert data.labels.tolist() == [4, 1] and data.num_classes == 5  # key order: a, b
    assert torch.equal(data.images, _expected(IMAGES[:2]))


def test_hf_dataset_dict_uses_train_split_and_class_names(tmp_path):
    datasets = pytest.importorskip("datasets")
    write_hf(tmp_path / "single", IMAGES[:3], [1, 0, 1], class_names=["cat", "dog"])
    train = datasets.load_from_disk(str(tmp_path / "single"))
    datasets.DatasetDict({"test": train.select([0]), "train": train}).save_to_disk(str(tmp_path / "dict"))
    data = load_dataset(str(tmp_path / "dict"), image_size=12)
    assert len(data) == 3 and data.class_names == ["cat", "dog"] and data.labels.tolist() == [1, 0, 1]
    datasets.DatasetDict({"a": train, "b": train}).save_to_disk(str(tmp_path / "two"))
    with pytest.raises(DataError, match=r"splits \['a', 'b'\]"):
        load_dataset(str(tmp_path / "two"))


def test_hf_dataset_without_an_image_column(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"text": ["a", "b"]}).save_to_disk(str(tmp_path / "text"))
    with pytest.raises(DataError, match=r"no image column.*\['text'\]"):
        load_dataset(str(tmp_path / "text"))


def test_shards_by_brace_pattern_single_file_and_missing_shard(tmp_path):
    shards = write_shards(tmp_path / "s", IMAGES, LABELS, per_shard=3)
    assert len(shards) == 3
    pattern = tmp_path / "s" / "shard-{000000..000001}.tar"
    assert load_dataset(str(pattern), image_size=12).labels.tolist() == LABELS[:6]
    assert load_dataset(str(shards[2]), image_size=12).labels.tolist() == LABELS[6:]
    with pytest.raises(DataError, match="shard-000003.tar does not exist"):
        load_dataset(str(tmp_path / "s" / "shard-{000000..000003}.tar"))


def test_compressed_or_partly_labelled_shards_are_refused(tmp_path):
    shards = write_shards(tmp_path / "s", IMAGES[:2], [0, 1], per_shard=2)
    (tmp_path / "z.tar").write_bytes(gzip.compress(shards[0].read_bytes()))
    with pytest.raises(DataError, match="z.tar: not an uncompressed tar shard"):
        load_dataset(str(tmp_path / "z.tar"))
    write_shards(tmp_path / "p", IMAGES[:2], None, per_shard=1)
    write_shards(tmp_path / "q", IMAGES[:2], [0, 1], per_shard=1)
    (tmp_path / "q" / "shard-000000.tar").rename(tmp_path / "p" / "shard-000009.tar")
    with pytest.raises(DataError, match="some samples have a .cls label and some do not"):
        load_dataset(str(tmp_path / "p"))


@pytest.mark.parametrize("fmt, module, extra", [("lmdb", "lmdb", "lmdb"), ("hf", "datasets", "hf")])
def test_missing_extra_is_one_line_naming_it(tmp_path, monkeypatch, fmt, module, extra):
    path = WRITERS[fmt](tmp_path, IMAGES[:2], None)
    monkeypatch.setitem(sys.modules, module, None)  # what an absent package looks like to import
    with pytest.raises(DataError, match=rf"pip install 'ganforge\[{extra}\]'") as caught:
        load_dataset(str(path))
    assert "\n" not in str(caught.value)


def test_tar_label_far_too_large_is_refused(tmp_path):
    write_shards(tmp_path / "s", IMAGES[:2], [0, 10**12], per_shard=2)
    with pytest.raises(DataError, match=r"000001.cls: class label must be in 0..1000000"):
        load_dataset(str(tmp_path / "s"))
