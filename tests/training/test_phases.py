"""The trainer's phases: what each optimiser holds, lazy R1 as a regularizer phase, and resets."""
import json

import torch

from ganforge import api
from ganforge.config import resolve
from ganforge.objectives.regularizers import LazyRegularizer
from ganforge.training import checkpoint as ckpt
from ganforge.training.logbook import StatsAccumulator
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
