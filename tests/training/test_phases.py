"""The trainer's phases: what each optimiser holds, lazy R1 as a regularizer phase, and resets."""
import json

import pytest
import torch

from ganforge import api
from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.objectives.regularizers import LazyRegularizer
from ganforge.training import checkpoint as ckpt
from ganforge.training.logbook import StatsAccumulator
from ganforge.training.phases import decay_factor
from ganforge.training.trainer import Trainer
from tests.conftest import TINY_DCGAN

R1 = ["family.r1_gamma=10", "family.r1_interval=4"]


def _trainer(tmp_path, *sets):
    return Trainer(resolve("dcgan-paper", TINY_DCGAN + list(sets)), tmp_path)


def test_phases_hold_g_and_d_and_checkpoint_under_the_old_keys(tmp_path):
    trainer = _trainer(tmp_path)
    G, D = trainer.phases.G, trainer.phases.D
    assert {id(p) for p in G.params} == {id(p) for p in trainer.G.parameters()}
    assert {id(p) for p in D.params} == {id(p) for p in trainer.D.parameters()}
    assert set(G.state_dict()) | set(D.state_dict()) == {"opt_g", "opt_d"}  # fp32: no scalers
    assert trainer.regularizers == []


def test_lazy_r1_runs_every_k_steps_on_the_last_d_batch(tmp_path):
    trainer = _trainer(tmp_path, *R1)
    (r1,) = trainer.regularizers
    assert (r1.name, r1.weight, r1.interval) == ("r1", 5.0, 4)
    calls = []

    def counting(critic, reals, labels):
        calls.append((trainer.step, reals))
        return r1.penalty(critic, reals, labels)

    trainer.regularizers = [LazyRegularizer("r1", r1.weight, r1.interval, counting)]
    stats = StatsAccumulator()
    for _ in range(9):
        trainer._train_step(stats)
        if calls and calls[-1][0] == trainer.step:
            assert calls[-1][1] is trainer._last_reals[0]
        trainer.step += 1
    assert [step for step, _ in calls] == [0, 4, 8]
    assert stats.means()["r1"] > 0


def test_r1_changes_training_and_resumes_exactly(tmp_path):
    steps = ["train.steps=6", "train.ckpt_every=3"]
    plain = api.train(resolve("dcgan", TINY_DCGAN + steps), out=tmp_path / "plain")
    straight = api.train(resolve("dcgan", TINY_DCGAN + R1 + steps), out=tmp_path / "straight")
    cut = api.train(resolve("dcgan", TINY_DCGAN + R1 + ["train.steps=3", "train.ckpt_every=3"]),
                    out=tmp_path / "cut")
    resumed = api.resume(cut, {"train": {"steps": 6}})

    def weights(run):
        return ckpt.load_checkpoint(ckpt.checkpoint_dirs(run)[-1], with_state=False)[0]["D"]

    a, b, c = weights(straight), weights(resumed), weights(plain)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    log = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    # Logged every 2 steps: R1 ran at steps 0 and 4 (counted from 0), inside the intervals
    # that end at steps 2 and 6.
    assert [r["step"] for r in log if "r1" in r] == [2, 6]


def test_reset_optimizers_builds_fresh_phases_and_keeps_gradient_syncs(tmp_path):
    trainer = _trainer(tmp_path)
    trainer._train_step(StatsAccumulator())
    before = trainer.phases
    trainer.reset_optimizers()
    assert trainer.phases.G is not before.G and trainer.phases.G.sync is before.G.sync
    assert trainer.phases.D.opt.state_dict()["state"] == {}
    trainer._train_step(StatsAccumulator())  # gradients flags are set afresh for the new phases
    assert trainer._grads_for is trainer.phases.G


def test_decay_factor_holds_then_falls_linearly_without_reaching_zero():
    assert [decay_factor(s, 8, 0.5) for s in range(8)] == [1, 1, 1, 1, 1.0, 0.75, 0.5, 0.25]
    assert [decay_factor(s, 4, 0.0) for s in range(4)] == [1.0, 0.75, 0.5, 0.25]
    assert {decay_factor(s, 8, 1.0) for s in range(8)} == {1.0}


def test_decay_start_lowers_both_rates_each_step_and_resumes_exactly(tmp_path):
    decay = ["optim.decay_start=0.5", "optim.g_lr=1e-3", "optim.d_lr=4e-4"]
    trainer = Trainer(resolve("dcgan-paper", TINY_DCGAN + decay + ["train.steps=8"]), tmp_path / "t")
    rates = []
    for step in range(1, 9):
        trainer.train(until=step)
        rates += [trainer.phases.G.opt.param_groups[0]["lr"], trainer.phases.D.opt.param_groups[0]["lr"]]
    expected = [rate * f for f in (1, 1, 1, 1, 1, 0.75, 0.5, 0.25) for rate in (1e-3, 4e-4)]
    assert rates == pytest.approx(expected)

    steps = ["train.steps=8", "train.ckpt_every=4"]
    straight = api.train(resolve("dcgan", TINY_DCGAN + decay + steps), out=tmp_path / "straight")
    plain = api.train(resolve("dcgan", TINY_DCGAN + decay[1:] + steps), out=tmp_path / "plain")
    # Stopped at step 4 of the same 8-step run (the decay follows train.steps), then resumed.
    cut = tmp_path / "cut"
    Trainer(resolve("dcgan", TINY_DCGAN + decay + steps), cut).train(until=4)
    resumed = api.resume(cut)

    def weights(run):
        return ckpt.load_checkpoint(ckpt.checkpoint_dirs(run)[-1], with_state=False)[0]["G"]

    a, b, c = weights(straight), weights(resumed), weights(plain)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_decay_start_outside_0_1_is_refused(value):
    with pytest.raises(ConfigError, match="optim.decay_start"):
        resolve("dcgan", [f"optim.decay_start={value}"])
