"""Optional loggers: TensorBoard events and W&B offline runs that hold what metrics.jsonl holds."""
import json
import os
import subprocess
import sys

import pytest

from ganforge import api
from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.training.loggers import open_loggers, scalars_of


def _train(tmp_path, tiny_dcgan, logger):
    cfg = resolve("dcgan", tiny_dcgan + ["train.steps=4", f"train.logger={logger}"])
    run = api.train(cfg, out=tmp_path / "run")
    return run, [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_tensorboard_events_hold_the_logged_scalars_and_sample_grids(tmp_path, tiny_dcgan):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    run, log = _train(tmp_path, tiny_dcgan, "tensorboard")
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0}).Reload()
    for key in ("d_loss", "g_loss", "d_real", "img_per_s"):
        logged = [(e.step, e.value) for e in events.Scalars(f"train/{key}")]
        assert logged == [(r["step"], pytest.approx(r[key], rel=1e-6)) for r in log]
    grids = events.Images("samples")
    assert [g.step for g in grids] == [4] and grids[0].width == 2 * (16 * 4 + 2 * 5)


def test_wandb_offline_run_is_written_without_a_network(tmp_path, tiny_dcgan):
    pytest.importorskip("wandb", reason="wandb is an optional extra (pip install 'ganforge[wandb]')")
    # As a user runs it: wandb's service finishes writing its log when the process exits.
    sets = [a for s in tiny_dcgan + ["train.steps=4", "train.logger=wandb"] for a in ("--set", s)]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    done = subprocess.run([sys.executable, "-m", "ganforge", "train", "--out", str(tmp_path / "run"), *sets],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [offline] = (tmp_path / "run" / "wandb").glob("offline-run-*")
    [transactions] = offline.glob("run-*.wandb")
    assert b"train/d_loss" in transactions.read_bytes()
    assert list((offline / "files" / "media" / "images").glob("samples_4_*.png"))


@pytest.mark.parametrize("name, module", [("tensorboard", "torch.utils.tensorboard"), ("wandb", "wandb")])
def test_a_missing_logger_is_one_line_naming_its_extra(tmp_path, monkeypatch, name, module):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(ConfigError, match=rf"pip install 'ganforge\[{name}\]'"):
        open_loggers([name], tmp_path, {}, 0)


def test_unknown_loggers_are_refused_up_front():
    with pytest.raises(ConfigError, match="unknown logger.*'mlflow'.*valid: tensorboard, wandb"):
        resolve("dcgan", ["train.logger=tensorboard,mlflow"])
    assert resolve("dcgan", ['train.logger=["tensorboard", "wandb"]']).train.logger == ("tensorboard", "wandb")
    assert resolve("dcgan").train.logger == ()


def test_scalar_tags():
    record = {"step": 3, "time": 1.0, "d_loss": 0.5, "eval/fid": 2.0, "eval/extractor": "x", "ok": True}
    assert scalars_of(record) == {"train/d_loss": 0.5, "eval/fid": 2.0}
