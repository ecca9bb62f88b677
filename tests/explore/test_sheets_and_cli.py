import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.explore.directions import load_directions
from ganforge.explore.points import seed_points
from ganforge.explore.sheets import PAD, sheet, tile_box


def test_sheet_places_each_image_in_its_tile():
    gen = torch.Generator().manual_seed(0)
    rows = [torch.rand(3, 1, 8, 8, generator=gen) * 2 - 1, torch.rand(2, 1, 8, 8, generator=gen) * 2 - 1]
    img = np.asarray(sheet(rows, scale=3))
    assert img.shape == (PAD + 2 * (24 + PAD), PAD + 3 * (24 + PAD), 3)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            left, top, right, bottom = tile_box(r, c, 8, 8, 3)
            expected = ((image[0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
            expected = expected.repeat(3, 0).repeat(3, 1)  # nearest-neighbour upscaling
            assert np.array_equal(img[top:bottom, left:right, 0], expected)
    assert (img[tile_box(1, 2, 8, 8, 3)[1]:, tile_box(1, 2, 8, 8, 3)[0]:] == 255).all()  # no 3rd tile
    labelled = sheet(rows, ["first", "second"], scale=3)
    assert labelled.height == img.shape[0] and labelled.width > img.shape[1]
    with pytest.raises(GanforgeError):
        sheet([torch.zeros(3, 2)])


def _png(path):
    with Image.open(path) as im:
        return im.size


def test_interpolate_arithmetic_truncation_sheets(tiny_run, tmp_path, capsys):
    run = str(tiny_run)
    tile = 16 * 4 + PAD  # 16-pixel samples are drawn 4x
    assert main(["interpolate", run, "--seeds", "3,17,5", "--steps", "6", "--slerp",
                 "--out", str(tmp_path / "i.png")]) == 0
    w, h = _png(tmp_path / "i.png")
    assert h == PAD + 2 * tile and w > 6 * tile
    assert "slerp, 6 steps" in capsys.readouterr().out
    assert main(["arithmetic", run, "--a", "1,2,3", "--b", "4,5", "--c", "6", "--variations", "4",
                 "--out", str(tmp_path / "a.png")]) == 0
    assert _png(tmp_path / "a.png")[1] == PAD + 4 * tile
    assert main(["truncation", run, "--values", "none,1,0.25", "-n", "5",
                 "--out", str(tmp_path / "t.png")]) == 0
    assert _png(tmp_path / "t.png")[1] == PAD + 3 * tile


def test_truncation_rows_really_truncate(tiny_g):
    z = seed_points(tiny_g, list(range(40)), truncation=0.5).z
    assert z.abs().max() <= 0.5
    assert seed_points(tiny_g, list(range(40))).z.abs().max() > 1.5


def test_directions_command_saves_vectors_and_a_sheet(tiny_run, capsys):
    assert main(["directions", str(tiny_run), "--attribute", "brightness", "--label", "3",
                 "--principal", "2", "-n", "200", "--jacobian-samples", "8", "--seeds", "1,2"]) == 0
    out = capsys.readouterr().out
    assert "held-out R^2" in out and "principal directions" in out
    d = load_directions(tiny_run / "directions" / "brightness-c3.npz")
    assert d.vectors.shape == (1, 16) and d.names == ["brightness@3"] and int(d.extra["label"]) == 3
    p = load_directions(tiny_run / "directions" / "principal-c3.npz")
    assert p.vectors.shape == (2, 16)
    # rows: (1 direction x 2 seeds) and (2 directions x 2 seeds), 7 steps each
    assert _png(tiny_run / "directions" / "brightness-c3.png")[1] == PAD + 2 * (64 + PAD)
    assert _png(tiny_run / "directions" / "principal-c3.png")[1] == PAD + 4 * (64 + PAD)


def test_nearest_command_prints_quantiles(tiny_run, tmp_path, capsys):
    assert main(["nearest", str(tiny_run), "-n", "16", "-k", "2", "--rows", "3",
                 "--out", str(tmp_path / "n.png")]) == 0
    out = capsys.readouterr().out
    assert "q05" in out and "q95" in out and "generated (n=16)" in out and "held-out real (n=16)" in out
    assert _png(tmp_path / "n.png")[1] == PAD + 3 * (64 + PAD)


def test_user_errors_are_one_line(tiny_run, capsys):
    assert main(["interpolate", str(tiny_run), "--seeds", "3,x"]) == 2
    assert main(["directions", str(tiny_run)]) == 2
    assert main(["interpolate", str(tiny_run), "--seeds", "1,2", "--steps", "500"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)
