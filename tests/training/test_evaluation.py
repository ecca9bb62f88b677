"""Evaluation during training (train.eval_every): metrics in the log, the best generator kept,
the run's random streams untouched."""
import json

import pytest
import torch
from safetensors.torch import load_file

from ganforge import api
from ganforge.cli import main
from ganforge.config import resolve
from ganforge.errors import CheckpointError
from ganforge.metrics.reference import CACHE_ENV
from ganforge.training import checkpoint as ckpt
from ganforge.training.trainer import Trainer
from tests.conftest import TINY_DCGAN


def _eval_sets(classifier_dir):
    return TINY_DCGAN + ["train.steps=4", "train.eval_every=2", "eval.n=64", "eval.metrics=fid,kid",
                         f"eval.extractor=classifier:{classifier_dir}"]


def test_training_with_eval_every_logs_metrics_keeps_the_best_and_changes_nothing_else(
        tmp_path, classifier_dir, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    run = api.train(resolve("dcgan", _eval_sets(classifier_dir)), out=tmp_path / "with-eval")
    evals = [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "eval/fid" in r]
    assert [r["step"] for r in evals] == [2, 4]
    assert all(r["eval/extractor"].startswith(f"classifier:{classifier_dir}") and r["eval/n"] == 64 for r in evals)
    assert all("eval/kid" in r and "eval/baseline_fid" in r for r in evals)
    best = json.loads((run / "best" / "best.json").read_text())
    winner = min(evals, key=lambda r: r["eval/fid"])
    assert best["fid"] == winner["eval/fid"] and best["step"] == winner["step"]
    assert evals[-1]["eval/best_fid"] == best["fid"]
    weights = load_file(str(run / "best" / "generator.safetensors"))
    g = api.load(run)
    assert set(weights) == set(g.G.state_dict())
    if best["step"] == 4:  # the final checkpoint holds the same weights
        assert all(torch.equal(weights[k], v) for k, v in g.G.state_dict().items())
    kept = api.load(run, best=True)
    assert kept.step == best["step"]
    assert all(torch.equal(weights[k], v) for k, v in kept.G.state_dict().items())
    assert main(["sample", str(run), "--best", "-n", "4", "--out", str(tmp_path / "best.png")]) == 0
    assert (tmp_path / "best.png").is_file()
    data = (run / "best" / "generator.safetensors").read_bytes()
    (run / "best" / "generator.safetensors").write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(CheckpointError, match="does not match the hash"):
        api.load(run, best=True)

    # Evaluation draws from its own generator: the run trains exactly as one without it.
    plain = api.train(resolve("dcgan", TINY_DCGAN + ["train.steps=4"]), out=tmp_path / "plain")
    a, b = (load_file(str(ckpt.checkpoint_dirs(r)[-1] / ckpt.WEIGHTS)) for r in (run, plain))
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_periodic_evaluation_leaves_random_streams_alone_and_keeps_a_better_best(
        tmp_path, classifier_dir, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    trainer = Trainer(resolve("dcgan", _eval_sets(classifier_dir)), run_dir)
    global_state, noise_state = torch.get_rng_state(), trainer.noise.get_state()
    record = trainer.periodic_eval()
    assert torch.equal(torch.get_rng_state(), global_state) and torch.equal(trainer.noise.get_state(), noise_state)
    assert record["eval/best_fid"] == record["eval/fid"]
    best_file = run_dir / "best" / "best.json"
    assert json.loads(best_file.read_text())["step"] == 0
    # A recorded best that is better is kept; a worse one is replaced.
    best_file.write_text(json.dumps({**json.loads(best_file.read_text()), "fid": record["eval/fid"] / 2,
                                     "step": -1}))
    assert trainer.periodic_eval()["eval/best_fid"] == record["eval/fid"] / 2
    assert json.loads(best_file.read_text())["step"] == -1
    best_file.write_text(json.dumps({**json.loads(best_file.read_text()), "fid": record["eval/fid"] * 2}))
    trainer.periodic_eval()
    replaced = json.loads(best_file.read_text())
    assert replaced["step"] == 0 and replaced["fid"] == record["eval/fid"]
