"""The command line: sample outputs and one-line errors (no traceback) for bad input."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ganforge.cli import main


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from tests.conftest import TINY_DCGAN
    out = tmp_path_factory.mktemp("cli") / "run"
    sets = [a for s in TINY_DCGAN + ["train.steps=2"] for a in ("--set", s)]
    assert main(["train", "--recipe", "dcgan", "--out", str(out), *sets]) == 0
    return out


def test_sample_png_grid(trained_run, tmp_path):
    out = tmp_path / "grid.png"
    assert main(["sample", str(trained_run), "-n", "16", "--seed", "0", "--out", str(out)]) == 0
    img = Image.open(out)
    # 4x4 grid of 16 px images with 2 px padding
    assert img.size == (4 * 18 + 2, 4 * 18 + 2)


def test_sample_npz_and_png_dir_agree(trained_run, tmp_path):
    assert main(["sample", str(trained_run), "-n", "6", "--seed", "3", "--format", "npz",
                 "--out", str(tmp_path / "s.npz")]) == 0
    arr = np.load(tmp_path / "s.npz")["samples"]
    assert arr.shape == (6, 1, 16, 16) and arr.dtype == np.uint8
    assert main(["sample", str(trained_run), "-n", "6", "--seed", "3", "--format", "png-dir",
                 "--out", str(tmp_path / "dir")]) == 0
    files = sorted((tmp_path / "dir").glob("*.png"))
    assert len(files) == 6
    assert np.array_equal(np.asarray(Image.open(files[2])), arr[2, 0])


def test_recipes_lists_one_line_each(capsys):
    assert main(["recipes"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(l.startswith("dcgan ") for l in lines) and any(l.startswith("gan ") for l in lines)


@pytest.mark.parametrize("argv, fragment", [
    (["train", "--recipe", "nope"], "unknown recipe 'nope'; available:"),
    (["train", "--set", "train.stepz=1"], "unknown key 'train.stepz'; did you mean 'train.steps'? valid keys:"),
    (["train", "--set", "train.steps=abc"], "train.steps: expected int"),
    (["train", "--data", "/definitely/missing/path"], "does not exist"),
    (["sample", "/definitely/missing/run"], "does not exist"),
])
def test_bad_input_is_one_line_error(argv, fragment, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and fragment in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_empty_folder_and_corrupt_image(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train", "--data", str(empty), "--out", str(tmp_path / "r1")]) == 2
    assert "no images" in capsys.readouterr().err
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(20):
        Image.fromarray(np.full((16, 16), i * 10, np.uint8)).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    assert main(["train", "--data", str(folder), "--out", str(tmp_path / "r2")]) == 2
    assert "broken.png" in capsys.readouterr().err


def test_skip_bad_images_trains_and_counts(tmp_path, capsys):
    from tests.conftest import TINY_DCGAN
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(20):
        Image.fromarray(np.full((16, 16), i * 10, np.uint8)).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    sets = [a for s in TINY_DCGAN + ["train.steps=1", "data.skip_bad=true"] for a in ("--set", s)]
    with pytest.warns(UserWarning, match="skipped 1 unreadable image.*broken.png"):
        assert main(["train", "--data", str(folder), "--out", str(tmp_path / "r"), *sets]) == 0
    info = json.loads((tmp_path / "r" / "data.json").read_text())
    assert info["skipped"] == 1 and info["samples"] == 20


def test_resume_from_other_recipe_is_refused(trained_run, capsys):
    assert main(["train", "--resume", str(trained_run), "--recipe", "gan"]) == 2
    assert "trained with recipe 'dcgan', not 'gan'" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["recipes"], ["--help"], []])
def test_a_closed_pipe_ends_quietly(args):
    """`ganforge recipes | head -1`: no traceback; the status says the pipe closed (141, as for a
    process killed by SIGPIPE), or 0 where argparse itself drops the failed write."""
    proc = subprocess.Popen([sys.executable, "-m", "ganforge", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before anything is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in ((141,) if args == ["recipes"] else (0, 141))
    assert err == "", err
