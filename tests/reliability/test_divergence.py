"""NaN or Inf in the losses or the weights is caught within one logging interval, through the real
trainer: the run stops with a clear message, or (train.on_nan=rollback) reloads the last good
checkpoint with a lower learning rate. A non-finite checkpoint is never written.

Divergence is injected deterministically by a test-only family registered for these tests.
"""
import json
import math
import re
from dataclasses import dataclass

import pytest
import torch

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.families import FAMILIES
from ganforge.families.gan import GAN
from ganforge.training import checkpoint as ckpt

from .tiny import TINY, all_finite, log_records, steps_saved, train


@dataclass
class PoisonedGAN(GAN):
    """The vanilla GAN whose discriminator loss (or one discriminator weight) is set to `value`
    at update `at` (0-based), each time that update runs, at most `times` times (0: at every
    update from `at` on)."""
    at: int = -1
    times: int = 1
    where: str = "loss"
    value: str = "nan"  # a string: config refuses non-finite numbers, and this one is poison on purpose

    def __post_init__(self):
        super().__post_init__()
        self.fired, self.armed = 0, False

    def before_step(self, control) -> None:
        hit = control.step == self.at or (self.times == 0 and control.step >= self.at >= 0)
        self.armed = hit and (self.times == 0 or self.fired < self.times)
        self.fired += self.armed

    def d_loss(self, D, reals, real_labels, fakes, latent, noise):
        loss, stats = super().d_loss(D, reals, real_labels, fakes, latent, noise)
        if self.armed and self.where == "loss":
            loss = loss * float(self.value)
            stats = {**stats, "d_loss": loss.detach()}
        return loss, stats

    def after_d_step(self, D) -> None:
        if self.armed and self.where == "weights":
            with torch.no_grad():
                next(D.parameters()).view(-1)[0] = float(self.value)


@pytest.fixture(autouse=True)
def poisoned_family(monkeypatch):
    monkeypatch.setitem(FAMILIES, "poisoned", PoisonedGAN)


def _family(**params):
    return ["family.name=poisoned"] + [f"family.{k}={json.dumps(v) if isinstance(v, str) else v}"
                                       for k, v in params.items()]


def _opt_lrs(run):
    state = ckpt.load_checkpoint(ckpt.checkpoint_dirs(run)[-1])[1]
    return state["lr_scale"], state["opt_g"]["param_groups"][0]["lr"], state["opt_d"]["param_groups"][0]["lr"]


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_bad_loss_stops_at_the_next_log_and_is_never_checkpointed(tmp_path, value):
    sets = ["train.log_every=4", "train.ckpt_every=4", "train.steps=20", *_family(at=5, value=value)]
    with pytest.raises(GanforgeError) as caught:
        train(tmp_path, "run", *sets)
    message = str(caught.value)
    # Update 5 makes step 6; the next log is step 8, before step 8's checkpoint would be written.
    assert re.fullmatch(r"training diverged at step 8: [\w, ]*d_loss[\w, ]* became NaN/Inf; "
                        r"the last good checkpoint is in .*checkpoints", message), message
    assert steps_saved(tmp_path / "run") == [4] and all_finite(tmp_path / "run")
    assert log_records(tmp_path / "run")[-1]["step"] == 8 and log_records(tmp_path / "run")[-1]["d_loss"] is None


def test_bad_weights_are_caught_before_the_next_checkpoint(tmp_path):
    # No log step until the end: only the weight check at the checkpoint step can catch it.
    sets = ["train.log_every=100", "train.ckpt_every=3", "train.steps=20", *_family(at=4, where="weights")]
    with pytest.raises(GanforgeError, match=r"^training diverged at step 6: weights became NaN/Inf"):
        train(tmp_path, "run", *sets)
    assert steps_saved(tmp_path / "run") == [3] and all_finite(tmp_path / "run")


def test_rollback_reloads_the_last_checkpoint_with_half_the_learning_rate(tmp_path):
    sets = ["train.on_nan=rollback", "train.steps=10", *_family(at=5)]
    with pytest.warns(UserWarning, match=r"diverged at step 6: .*rolled back to step 4 with learning rates x0\.5"):
        run = train(tmp_path, "run", *sets)
    assert steps_saved(run)[-1] == 10 and all_finite(run)
    assert _opt_lrs(run) == (0.5, 1e-4, 1e-4)  # the recipe's 2e-4, halved
    meta = ckpt.load_checkpoint(ckpt.checkpoint_dirs(run)[-1])[2]
    assert meta["images_seen"] == 10 * 16  # the discarded steps 5-6 are not counted
    records = log_records(run)
    events = [i for i, r in enumerate(records) if r.get("event") == "rollback"]
    assert len(events) == 1 and records[events[0]]["step"] == 4 and records[events[0]]["lr_scale"] == 0.5
    after = records[events[0] + 1:]
    assert [r["step"] for r in after] == [6, 8, 10]
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in after)


def test_rollback_gives_up_after_max_rollbacks(tmp_path):
    sets = ["train.on_nan=rollback", "train.max_rollbacks=2", "train.steps=10", *_family(at=5, times=0)]
    with pytest.warns(UserWarning, match="rolled back") as warned:
        with pytest.raises(GanforgeError, match=r"diverged at step 6: .*\(gave up after 2 rollbacks\)$"):
            train(tmp_path, "run", *sets)
    assert len([w for w in warned if "rolled back" in str(w.message)]) == 2
    assert steps_saved(tmp_path / "run") == [2, 4] and all_finite(tmp_path / "run")


def test_repeated_rollbacks_keep_lowering_the_learning_rate(tmp_path):
    sets = ["train.on_nan=rollback", "train.steps=10", *_family(at=5, times=2)]
    with pytest.warns(UserWarning, match="rolled back"):
        run = train(tmp_path, "run", *sets)
    assert _opt_lrs(run) == (0.25, 5e-5, 5e-5)


def test_rollback_without_any_checkpoint_stops(tmp_path):
    sets = ["train.on_nan=rollback", "train.ckpt_every=100", "train.steps=10", *_family(at=1)]
    with pytest.raises(GanforgeError, match=r"^training diverged at step 2: [\w, ]*d_loss[\w, ]* became NaN/Inf$"):
        train(tmp_path, "run", *sets)
    assert ckpt.checkpoint_dirs(tmp_path / "run") == []


def test_command_line_reports_divergence_in_one_line(tmp_path, capsys):
    sets = TINY + ["train.steps=10", *_family(at=1)]
    argv = ["train", "--recipe", "dcgan", "--out", str(tmp_path / "run")] + [a for s in sets for a in ("--set", s)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: training diverged at step 2: ") and len(err.strip().splitlines()) == 1
