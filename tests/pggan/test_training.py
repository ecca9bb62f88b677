"""PGGAN end to end through the trainer, at tiny sizes: growing, resume mid fade-in, recipes,
the growth sheet."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file

from ganforge import api
from ganforge.config import resolve
from ganforge.explore.growth import growth_sheet
from ganforge.families.pggan import PGGAN
from ganforge.run import growth_snapshot_path as snapshot_path
from ganforge.images import to_uint8
from ganforge.nn.ema import ema_decay_from_half_life
from ganforge.training import checkpoint as ckpt
from ganforge.training.build import validated_sections

# 16x16 digits, 3 stages, 32 images per phase. At batch 8: 4x4 is steps 1-4, the fade-in of 8x8
# steps 5-8, stable 8x8 steps 9-12; then at batch 4 the fade-in of 16x16 is steps 13-20.
TINY = [
    "data.source=digits", "data.image_size=16", "generator.z_dim=8",
    "generator.channel_base=16", "generator.channel_max=8",
    "discriminator.channel_base=16", "discriminator.channel_max=8",
    "family.stable_kimg=0.032", "family.transition_kimg=0.032", "family.batch_sizes=[8, 8, 4]",
    "family.d_steps=1",
    "train.batch_size=8", "train.log_every=1", "train.sample_every=100", "train.ckpt_every=100",
    "train.progress=false", "train.grid_size=8", "train.ema=true", "train.ema_half_life_kimg=0.05",
]


def _train(tmp_path, name, sets, recipe="pggan-mnist"):
    return api.train(resolve(recipe, sets), out=tmp_path / name)


def _log(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _weights(run):
    return load_file(str(ckpt.checkpoint_dirs(run)[-1] / ckpt.WEIGHTS))


def test_grows_through_every_stage_with_the_planned_batch_sizes(tmp_path):
    run = _train(tmp_path, "grow", TINY + ["train.steps=20"])
    log = _log(run)
    images = [r["images_seen"] for r in log]
    # Steps 1-12 at batch 8 (96 images), then batch 4 from the 16x16 fade-in on.
    assert images[11] == 96 and images[-1] == 96 + 8 * 4
    stage_alpha = [(r["stage"], r["alpha"]) for r in log]
    assert stage_alpha[:4] == [(0.0, 1.0)] * 4
    assert stage_alpha[4:8] == [(1.0, 0.0), (1.0, 0.25), (1.0, 0.5), (1.0, 0.75)]
    assert stage_alpha[8:12] == [(1.0, 1.0)] * 4
    assert stage_alpha[12:20] == [(2.0, a / 8) for a in range(8)]
    w = _weights(run)
    assert (w["G.stage"].item(), w["G.alpha"].item(), w["D.stage"].item()) == (2, 0.875, 2)
    assert w["G_ema.stage"].item() == 2
    grid = Image.open(run / "samples" / "latest.png")
    assert grid.size == (2 * (3 * (16 + 2) + 2),) * 2  # 8 samples at the current 16x16, scale 2
    g = api.load(run)
    assert g.sample(3, seed=0).shape == (3, 1, 16, 16)


@pytest.mark.parametrize("d_steps, stop, end, stage", [(1, 6, 18, 1), (2, 8, 12, 2)])
def test_resume_in_a_fade_in_continues_with_the_same_alpha_and_bitwise_weights(tmp_path, d_steps, stop,
                                                                               end, stage):
    # d_steps=2 shows 16 images a step (8 from the 16x16 fade-in on, which is then steps 7-10).
    sets = TINY + [f"family.d_steps={d_steps}"]
    straight = _train(tmp_path, "straight", sets + [f"train.steps={end}"])
    interrupted = _train(tmp_path, "interrupted", sets + [f"train.steps={stop}"])
    saved = _weights(interrupted)
    assert (saved["G.stage"].item(), saved["G.alpha"].item()) == (stage, 0.25)  # the last step's alpha
    resumed = api.resume(interrupted, {"train": {"steps": end}})
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # The same schedule, losses and statistics step by step (crossing two resets and a batch change).
    keep = lambda r: {k: v for k, v in r.items() if k not in ("time", "img_per_s")}  # noqa: E731
    assert [keep(r) for r in _log(straight)] == [keep(r) for r in _log(resumed)]
    assert _log(resumed)[stop]["alpha"] == 0.5 and _log(resumed)[stop]["stage"] == stage


def test_real_use_recipes_start_at_tiny_width(tmp_path):
    tiny = ["data.source=digits", "data.image_size=16", "generator.channel_base=16",
            "generator.channel_max=8", "discriminator.channel_base=16", "discriminator.channel_max=8",
            "generator.z_dim=8", "train.steps=3", "train.log_every=1", "train.progress=false",
            "train.grid_size=4", "train.ckpt_every=3", "train.sample_every=3"]
    # Images shown per step: batch x critic steps (two in the CPU recipe).
    for recipe, per_step in (("pggan-256", 16), ("pggan-1024", 16), ("pggan-mnist", 64)):
        run = _train(tmp_path, recipe, tiny, recipe=recipe)
        log = _log(run)
        assert [r["step"] for r in log] == [1, 2, 3] and log[-1]["images_seen"] == 3 * per_step
        assert all(math.isfinite(r[k]) for r in log for k in ("d_loss", "g_loss", "gp", "drift"))
        assert log[-1]["stage"] == 0.0


@pytest.mark.parametrize("recipe, size, batch", [("pggan-mnist", 32, 32), ("pggan-256", 256, 16),
                                                 ("pggan-1024", 1024, 16)])
def test_recipes_follow_the_paper_settings_and_end_with_the_schedule(recipe, size, batch):
    cfg = resolve(recipe)
    fam_args, g_args, d_args = validated_sections(cfg)
    fam = PGGAN(**{k: v for k, v in fam_args.items() if k != "name"})
    stages = int(math.log2(size)) - 1
    assert cfg.data.image_size == size and cfg.train.batch_size == batch
    assert cfg.train.steps == fam.steps_to_finish(stages, cfg.train.batch_size)
    optim = (cfg.optim.name, cfg.optim.g_lr, cfg.optim.d_lr, tuple(cfg.optim.betas))
    assert optim == ("adam", 1e-3, 1e-3, (0.0, 0.99))
    assert (fam.gp_weight, fam.drift_weight, fam.loss) == (10.0, 0.001, "wasserstein")
    # The EMA of G forgets a new block's untrained initial weights during its fade-in.
    decay = ema_decay_from_half_life(batch, cfg.train.ema_half_life_kimg * 1000)
    fade_in_steps = fam.transition_kimg * 1000 / (batch * fam.d_steps)
    assert cfg.train.ema and decay ** fade_in_steps < 1e-3
    if recipe != "pggan-mnist":  # the paper's G: 512-d latent, 512 maps halving from 64x64
        assert decay == pytest.approx(0.999, abs=2e-7)  # beta 0.999 per step at batch 16
        assert (g_args["z_dim"], g_args["channel_base"], g_args["channel_max"]) == (512, 4096, 512)
        assert (d_args["channel_base"], d_args["channel_max"], d_args["mbstd_group"]) == (4096, 512, 4)
        assert fam.batch_sizes[:stages] == (16, 16, 16, 16, 16, 16, 14, 6, 3)[:stages]


def test_growth_sheet_shows_one_latent_through_every_stage(tmp_path):
    run = _train(tmp_path, "sheet", TINY + ["train.steps=20"])
    snapshots = sorted(p.name for p in (run / "growth").iterdir())
    assert snapshots == ["stage-00.safetensors", "stage-01.safetensors"]
    out = growth_sheet(api.load(run), tmp_path / "growth.png", seed=3, n=2)
    sheet = torch.from_numpy(np.array(Image.open(out)))
    assert tuple(sheet.shape) == (2 * (2 * 18 + 2), 2 * (3 * 18 + 2))  # 2 latents x 3 stages, scale 2
    # Column 1, row 0 is the 8x8 snapshot's sample for the first latent, enlarged to 16x16.
    g = api.load(run)
    latent = g.latent(2, seed=3)
    g.G.load_state_dict(load_file(str(snapshot_path(run, 1))))
    assert g.G.resolution == 8
    expected = to_uint8(F.interpolate(g.generate(latent), size=(16, 16), mode="nearest"))[0, 0]
    tile = sheet[::2, ::2][2:18, 2 + 18:18 + 18]
    assert torch.equal(tile, expected)


def test_growth_sheet_without_snapshots_warns_and_shows_the_newest_checkpoint(tmp_path):
    run = _train(tmp_path, "nosnap", TINY + ["train.steps=2"])
    with pytest.warns(UserWarning, match="no per-stage snapshots"):
        out = growth_sheet(api.load(run), tmp_path / "g.png", n=2)
    assert Image.open(out).size == (2 * (18 + 2), 2 * (2 * 18 + 2))
