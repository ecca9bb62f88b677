"""`load_dataset` dispatch: names versus paths, options, and what an unknown input says."""

import pytest

from ganforge.data import PATH_FORMATS, SOURCES, load_dataset
from ganforge.errors import DataError
from tests.data.files import solid


def test_sources_describe_every_named_source_in_one_line():
    assert set(SOURCES) == {"mnist", "digits", "stacked-mnist", "ring8", "grid25"}
    for name, line in SOURCES.items():
        assert line and "\n" not in line
    assert "npz" in PATH_FORMATS and "\n" not in PATH_FORMATS


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'nope'} does not exist"):
        load_dataset(str(tmp_path / "nope"))


def test_unknown_file_type_lists_what_is_supported(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("1,2,3\n")
    with pytest.raises(DataError) as caught:
        load_dataset(str(path))
    message = str(caught.value)
    assert str(path) in message and "unsupported" in message and ".npz" in message and ".png" in message


def test_paths_expand_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    solid(tmp_path / "pics" / "a.png", (1, 2, 3))
    assert len(load_dataset("~/pics", image_size=4)) == 1


@pytest.mark.parametrize("options, message", [
    ({"image_size": 0}, "image_size"), ({"image_size": 8.0}, "image_size"), ({"image_size": True}, "image_size"),
    ({"channels": 2}, "channels"), ({"channels": 5}, "channels"),
])
def test_invalid_options(options, message):
    with pytest.raises(DataError, match=message):
        load_dataset("digits", **options)


def test_every_error_is_a_single_line(tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage\nwith\nnewlines")
    with pytest.raises(DataError) as caught:
        load_dataset(str(tmp_path / "x.png"))
    assert "\n" not in str(caught.value)
