"""End-to-end training through the same code path users run, at tiny sizes."""
import json
import warnings

import pytest
import torch
from safetensors.torch import load_file

from ganforge import api
from ganforge.config import resolve
from ganforge.errors import CheckpointError, GanforgeError
from ganforge.run import checkpoints_dir
from ganforge.training import checkpoint as ckpt


def _weights(run_dir):
    return load_file(str(ckpt.checkpoint_dirs(run_dir)[-1] / ckpt.WEIGHTS))


def _train(tmp_path, name, recipe, sets):
    return api.train(resolve(recipe, sets), out=tmp_path / name)


@pytest.mark.parametrize("recipe, extra", [
    ("dcgan", []),
    ("gan", ["data.image_size=8", "generator.width=32", "discriminator.width=32"]),
    ("gan-saturating", ["data.image_size=8", "generator.width=32", "discriminator.width=32"]),
    ("gan-2d", ["generator.width=16", "discriminator.width=16", "data.toy_samples=2000"]),
    ("dcgan-64", ["data.image_size=16", "data.source=digits"]),
])
def test_each_recipe_trains_a_few_steps(tmp_path, tiny_dcgan, recipe, extra):
    sets = [s for s in tiny_dcgan if not s.startswith("data.image_size")] + ["train.steps=4"] + extra
    if recipe not in ("dcgan", "dcgan-64"):
        sets = [s for s in sets if not s.startswith(("generator", "discriminator"))] + extra
    run = _train(tmp_path, "run", recipe, sets)
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4]
    for key in ("d_loss", "g_loss", "d_real", "d_fake", "img_per_s", "images_seen"):
        assert all(key in r for r in log)
    assert log[-1]["images_seen"] == 4 * 16
    assert (run / "samples" / "step-00000004.png").is_file()
    saved = json.loads((run / "config.json").read_text())
    assert saved["recipe"] == recipe and saved["train"]["steps"] == 4
    w = _weights(run)
    assert any(k.startswith("G.") for k in w) and any(k.startswith("D.") for k in w)


def test_training_changes_weights_and_learns_signal(tmp_path, tiny_dcgan):
    run = _train(tmp_path, "a", "dcgan", tiny_dcgan + ["train.steps=4", "train.ckpt_every=2",
                                                       "train.keep_ckpts=5"])
    first, last = [load_file(str(p / ckpt.WEIGHTS)) for p in ckpt.checkpoint_dirs(run)]
    assert not torch.equal(first["G.net.0.weight"], last["G.net.0.weight"])


@pytest.mark.parametrize("ema", [False, True])
def test_resume_is_bitwise_exact(tmp_path, tiny_dcgan, ema):
    sets = tiny_dcgan + [f"train.ema={str(ema).lower()}", "train.ema_half_life_kimg=0.1"]
    straight = _train(tmp_path, "straight", "dcgan", sets + ["train.steps=6"])
    interrupted = _train(tmp_path, "interrupted", "dcgan", sets + ["train.steps=3"])
    resumed = api.resume(interrupted, {"train": {"steps": 6}})
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys() and ("G_ema.net.0.weight" in a) == ema
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # The metrics log continues without duplicated or missing steps.
    steps = [json.loads(l)["step"] for l in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert steps == [2, 3, 4, 6]


def test_an_ema_of_g_leaves_g_and_d_training_bitwise_unchanged(tmp_path, tiny_dcgan):
    # benchmarks/quality.py --watch-ema scores a recipe's raw G and its EMA from one run on this.
    runs = {ema: _train(tmp_path, f"ema-{ema}", "dcgan", tiny_dcgan + [f"train.ema={ema}", "train.steps=4"])
            for ema in ("false", "true")}
    plain, watched = _weights(runs["false"]), _weights(runs["true"])
    assert "G_ema.net.0.weight" in watched and "G_ema.net.0.weight" not in plain
    for k in plain:
        assert torch.equal(plain[k], watched[k]), k


def test_checkpoint_keeps_last_k(tmp_path, tiny_dcgan):
    run = _train(tmp_path, "k", "dcgan", tiny_dcgan + ["train.steps=8", "train.ckpt_every=2",
                                                       "train.keep_ckpts=2"])
    assert [p.name for p in ckpt.checkpoint_dirs(run)] == ["step-00000006", "step-00000008"]


def test_checkpoint_write_is_atomic(tmp_path, tiny_dcgan, monkeypatch):
    run = _train(tmp_path, "atomic", "dcgan", tiny_dcgan + ["train.steps=4"])
    before = ckpt.checkpoint_dirs(run)

    def crash(*args, **kwargs):  # the process dies half-way through the state file
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt.torch, "save", crash)
    with pytest.raises(CheckpointError, match="No space left on device.*previous checkpoint is intact"):
        ckpt.save_checkpoint(run, 99, {"G": torch.nn.Linear(2, 2)}, {}, {})
    assert ckpt.checkpoint_dirs(run) == before
    assert not list(checkpoints_dir(run).glob(".tmp-*"))
    ckpt.load_latest(run)  # still loads


def test_corrupt_checkpoint_falls_back_to_previous(tmp_path, tiny_dcgan):
    run = _train(tmp_path, "corrupt", "dcgan", tiny_dcgan + ["train.steps=8"])
    newest = ckpt.checkpoint_dirs(run)[-1]
    data = bytearray((newest / ckpt.WEIGHTS).read_bytes())
    data[-5] ^= 0xFF
    (newest / ckpt.WEIGHTS).write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="does not match its recorded hash"):
        _, _, meta, path = ckpt.load_latest(run)
    assert meta["step"] == 4 and path.name == "step-00000004"


def test_resume_rejects_other_recipe_and_non_runs(tmp_path, tiny_dcgan):
    run = _train(tmp_path, "r", "dcgan", tiny_dcgan + ["train.steps=2"])
    with pytest.raises(GanforgeError, match="trained with recipe 'dcgan', not 'gan'"):
        api.resume(run, recipe="gan")
    with pytest.raises(GanforgeError, match="not a ganforge run directory"):
        api.resume(tmp_path)
    with pytest.raises(GanforgeError, match="does not exist"):
        api.resume(tmp_path / "missing")


def test_load_and_sample_api(tmp_path, tiny_dcgan):
    run = _train(tmp_path, "s", "dcgan", tiny_dcgan + ["train.steps=2"])
    g = api.load(run)
    a, b, c = g.sample(5, seed=1), g.sample(5, seed=1), g.sample(5, seed=2)
    assert a.shape == (5, 1, 16, 16) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert g.step == 2 and not g.G.training


@pytest.mark.parametrize("fast, precision", [(False, "fp32"), (True, "bf16")])
def test_auto_precision_trains_with_the_machines_fastest_settings(tmp_path, tiny_dcgan, monkeypatch, fast, precision):
    # The selection only (train.precision=auto), not its speed: fp32 and channels-last on a CPU
    # where bf16 is not faster, bf16 autocast and channels-last on one where it is (AMX).
    from ganforge.training import runtime
    from ganforge.training.trainer import Trainer
    monkeypatch.setattr(runtime, "fast_bf16", lambda device: fast)
    trainer = Trainer(resolve("dcgan", [*tiny_dcgan, "train.precision=auto", "train.steps=2"]), tmp_path / "auto")
    assert trainer.rt.precision == precision and trainer.channels_last
    conv = next(m for m in trainer.D.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    trainer.train()
    assert trainer.step == 2
    # The run says what auto chose (quality rows copy it).
    summary = json.loads((tmp_path / "auto" / "data.json").read_text())
    assert summary["computes"] == {"precision": precision, "channels_last": True}
