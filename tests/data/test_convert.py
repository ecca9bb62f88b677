"""`ganforge dataset`: any source -> a stylegan2-ada zip that reads back to the same pixels and
labels; counts, classes and skipped files reported; --dry-run writes nothing."""
import json
import zipfile

import numpy as np
import pytest
import torch

from ganforge.cli import main
from ganforge.data import load_dataset
from ganforge.data.convert import convert_to_zip
from ganforge.errors import DataError
from tests.data.containers import encoded_images, write_shards
from tests.data.files import solid


@pytest.fixture
def folder(tmp_path):
    for index in range(4):
        solid(tmp_path / "src" / "cat" / f"{index}.png", (200, 10 * index, 0), size=(20, 16))
    for index in range(3):
        solid(tmp_path / "src" / "dog" / f"{index}.jpg", (0, 10 * index, 200), size=(16, 20), quality=95)
    (tmp_path / "src" / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return tmp_path / "src"


def test_folder_to_zip_keeps_pixels_labels_and_class_names(folder, tmp_path):
    report = convert_to_zip(str(folder), tmp_path / "out.zip", resolution=8)
    assert (report.found, report.written, report.skipped_count) == (8, 7, 1)
    assert "broken.png" in report.skipped[0] and report.class_counts == {0: 4, 1: 3}
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        assert sorted(archive.namelist())[:2] == ["00000/img00000000.png", "00000/img00000001.png"]
        meta = json.loads(archive.read("dataset.json"))
    assert meta["class_names"] == ["cat", "dog"] and meta["labels"][4] == ["00000/img00000004.png", 1]
    converted = load_dataset(str(tmp_path / "out.zip"), image_size=8)
    with pytest.warns(UserWarning, match="skipped 1"):
        direct = load_dataset(str(folder), image_size=8, skip_bad=True)  # same decoder, same order
    assert torch.equal(converted.images, direct.images)  # PNG is lossless
    assert torch.equal(converted.labels, direct.labels) and converted.class_names == ["cat", "dog"]


def test_dry_run_reports_and_writes_nothing(folder, tmp_path):
    report = convert_to_zip(str(folder), tmp_path / "out.zip", resolution=8, dry_run=True)
    assert report.written == 7 and report.output is None and not (tmp_path / "out.zip").exists()
    text = "\n".join(report.lines())
    assert "dry run: nothing written" in text and "classes: 2 (cat: 4, dog: 3)" in text and "skipped: 1" in text


def test_arrays_and_containers_convert_too(tmp_path):
    np.savez(tmp_path / "a.npz", images=np.arange(3 * 6 * 6, dtype=np.uint8).reshape(3, 6, 6), labels=[2, 0, 1])
    convert_to_zip(str(tmp_path / "a.npz"), tmp_path / "a.zip", resolution=6)
    back = load_dataset(str(tmp_path / "a.zip"), image_size=6)
    assert back.labels.tolist() == [2, 0, 1] and back.channels == 1
    assert torch.equal(back.images, load_dataset(str(tmp_path / "a.npz"), image_size=6).images)
    write_shards(tmp_path / "s", encoded_images(5), None, per_shard=2)
    report = convert_to_zip(str(tmp_path / "s"), tmp_path / "s.zip", resolution=4, channels=1)
    assert report.written == 5 and report.channels == 1 and not report.class_counts
    with zipfile.ZipFile(tmp_path / "s.zip") as archive:
        assert json.loads(archive.read("dataset.json")) == {"labels": None}


def test_refusals(folder, tmp_path):
    (tmp_path / "taken.zip").write_bytes(b"")
    with pytest.raises(DataError, match="exists"):
        convert_to_zip(str(folder), tmp_path / "taken.zip", resolution=8)
    with pytest.raises(DataError, match="must be a .zip"):
        convert_to_zip(str(folder), tmp_path / "out.tar", resolution=8)
    with pytest.raises(DataError, match="2-D points"):
        convert_to_zip("ring8", tmp_path / "r.zip", resolution=8)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="readable"):
        convert_to_zip(str(tmp_path / "bad"), tmp_path / "b.zip", resolution=8)
    assert not list(tmp_path.glob(".*partial"))  # a failed conversion leaves no partial file


def test_cli(folder, tmp_path, capsys):
    assert main(["dataset", str(folder), "--resolution", "8", "--out", str(tmp_path / "o.zip")]) == 0
    out = capsys.readouterr().out
    assert "images: 7 at 3x8x8" in out and f"wrote {tmp_path / 'o.zip'}" in out
    assert main(["dataset", str(folder), "--resolution", "8"]) == 2
    assert "--out is required" in capsys.readouterr().err
