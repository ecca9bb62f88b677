"""A process killed at any moment loses nothing: every checkpoint on disk stays loadable, and a
resumed run ends bitwise equal to one that was never interrupted.

The real SIGKILL stress runs `python -m ganforge train` as a subprocess (benchmarks/sigkill_stress.py,
4 kills here, 20 in the benchmark). The other tests reproduce a kill at each point of a checkpoint
write deterministically: an exception that no `except` clause of the writer catches stops the
code exactly where a SIGKILL would, with the same files left on disk.
"""
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

from ganforge import api
from ganforge.errors import CheckpointError
from ganforge.run import checkpoints_dir
from ganforge.training import checkpoint as ckpt

from .tiny import log_records, steps_saved, train

REPO = Path(__file__).resolve().parents[2]


def _harness():
    spec = importlib.util.spec_from_file_location("sigkill_stress", REPO / "benchmarks" / "sigkill_stress.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_sigkill_at_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path):
    stress = _harness()
    result = stress.run_stress(tmp_path, kills=4, seed=0, steps=16)
    assert result.problems == []
    assert result.kills == 4 and sorted(result.modes) == ["startup", "training", "write", "write"]
    assert result.kills_during_write >= 1  # the two "write" kills aim at the widened write window
    assert result.bitwise_equal and result.log_equal


# ---------------------------------------------------------------- kills simulated at exact points

class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so no cleanup handler in the writer runs."""


def _save(run, step, seed, keep=5):
    torch.manual_seed(seed)
    modules = {"G": torch.nn.Linear(3, 2), "D": torch.nn.Linear(2, 1)}
    return ckpt.save_checkpoint(run, step, modules, {"step": step, "seed": torch.tensor(seed)}, {}, keep=keep)


def _kill_at_pause(monkeypatch, n):
    calls = []

    def pause():
        calls.append(1)
        if len(calls) == n:
            raise Killed
    monkeypatch.setattr(ckpt, "_test_pause", pause)


def _kill_in(monkeypatch, target, name):
    def die(*args, **kwargs):
        raise Killed
    monkeypatch.setattr(target, name, die)


def _hidden(run):
    return sorted(p.name for p in checkpoints_dir(run).iterdir() if p.name.startswith("."))


def _seed_of(path):
    return int(ckpt.load_checkpoint(path)[1]["seed"])


@pytest.mark.parametrize("point", ["weights", "state", "pause-1", "pause-2", "pause-3"])
def test_kill_during_a_checkpoint_write_keeps_the_previous_ones(tmp_path, monkeypatch, point):
    run = tmp_path / "run"
    _save(run, 2, seed=0)
    _save(run, 4, seed=1)
    with monkeypatch.context() as m:
        if point == "weights":
            _kill_in(m, ckpt, "save_file")
        elif point == "state":
            _kill_in(m, ckpt.torch, "save")
        else:
            _kill_at_pause(m, int(point[-1]))
        with pytest.raises(Killed):
            _save(run, 6, seed=2)
    assert steps_saved(run) == [2, 4]
    for path in ckpt.checkpoint_dirs(run):
        ckpt.verify(path)
    assert _hidden(run) == [f".tmp-step-00000006-{os.getpid()}"]
    _, _, meta, path = ckpt.load_latest(run)
    assert meta["step"] == 4 and _seed_of(path) == 1
    # The restarted process (another pid) writes the step again and clears the leftover.
    monkeypatch.setattr(ckpt.os, "getpid", lambda: 999_999)
    _save(run, 6, seed=2, keep=2)
    assert steps_saved(run) == [4, 6] and _hidden(run) == []


def test_kill_after_the_rename_before_pruning(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _save(run, 2, seed=0, keep=2)
    _save(run, 4, seed=1, keep=2)
    with monkeypatch.context() as m:
        _kill_in(m, ckpt, "_prune")
        with pytest.raises(Killed):
            _save(run, 6, seed=2, keep=2)
    assert steps_saved(run) == [2, 4, 6]  # complete, just not pruned yet
    assert _seed_of(ckpt.load_latest(run)[3]) == 2
    _save(run, 8, seed=3, keep=2)
    assert steps_saved(run) == [6, 8]


def test_kill_while_pruning_never_exposes_a_half_deleted_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _save(run, 2, seed=0, keep=2)
    _save(run, 4, seed=1, keep=2)

    def dies_half_way(path, *args, **kwargs):
        (Path(path) / ckpt.WEIGHTS).unlink()  # the meta file is still there when the kill comes
        raise Killed
    with monkeypatch.context() as m:
        m.setattr(ckpt.shutil, "rmtree", dies_half_way)
        with pytest.raises(Killed):
            _save(run, 6, seed=2, keep=2)
    assert steps_saved(run) == [4, 6]
    for path in ckpt.checkpoint_dirs(run):
        ckpt.verify(path)
    _save(run, 8, seed=3, keep=2)
    assert steps_saved(run) == [6, 8] and _hidden(run) == []


def test_kill_while_re_saving_a_step_keeps_that_step(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _save(run, 2, seed=0)
    _save(run, 4, seed=1)
    with monkeypatch.context() as m:
        _kill_at_pause(m, 4)  # the old step-4 folder is set aside, the new one not yet in place
        with pytest.raises(Killed):
            _save(run, 4, seed=5)
    assert not (checkpoints_dir(run) / "step-00000004").exists()
    assert steps_saved(run) == [2, 4]
    tensors, state, meta, path = ckpt.load_latest(run)
    assert meta["step"] == 4 and int(state["seed"]) == 1
    monkeypatch.setattr(ckpt.os, "getpid", lambda: 999_999)
    _save(run, 6, seed=2, keep=2)
    assert steps_saved(run) == [4, 6]
    _save(run, 8, seed=3, keep=2)
    assert steps_saved(run) == [6, 8] and _hidden(run) == []


def test_re_saving_a_step_replaces_it(tmp_path):
    run = tmp_path / "run"
    _save(run, 4, seed=1)
    _save(run, 4, seed=5)
    assert steps_saved(run) == [4] and _hidden(run) == []
    assert _seed_of(ckpt.checkpoint_dirs(run)[0]) == 5


def test_slow_write_hook_pauses_only_when_set(tmp_path, monkeypatch):
    pauses = []
    monkeypatch.setattr(ckpt.time, "sleep", pauses.append)
    monkeypatch.delenv(ckpt.SLOW_WRITE_ENV, raising=False)
    _save(tmp_path / "run", 2, seed=0)
    assert pauses == []
    monkeypatch.setenv(ckpt.SLOW_WRITE_ENV, "0.25")
    _save(tmp_path / "run", 4, seed=0)
    assert pauses == [0.25] * 3


# ---------------------------------------------------------------- the metrics log after a kill

def test_resume_after_a_kill_mid_log_line_keeps_one_clean_record_per_step(tmp_path):
    sets = ["train.log_every=1", "train.ckpt_every=2"]
    straight = train(tmp_path, "straight", *sets, "train.steps=6")
    killed = train(tmp_path, "killed", *sets, "train.steps=6")
    # The state a kill during step 6's log line leaves: step 5 logged, step 6 half-written,
    # the step-6 checkpoint never written.
    shutil.rmtree(ckpt.checkpoint_dirs(killed)[-1])
    lines = (killed / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4, 5, 6]
    (killed / "metrics.jsonl").write_text("\n".join(lines[:5]) + "\n" + lines[5][:20])
    api.resume(killed)

    def clean(records):
        return [{k: v for k, v in r.items() if k not in ("time", "img_per_s")} for r in records]
    assert clean(log_records(killed)) == clean(log_records(straight))
    assert [r["step"] for r in log_records(killed)] == [1, 2, 3, 4, 5, 6]


def test_a_checkpoint_whose_hashes_are_missing_is_refused(tmp_path):
    path = _save(tmp_path / "run", 2, seed=0)
    meta = json.loads((path / ckpt.META).read_text())
    del meta["sha256"][ckpt.STATE]
    (path / ckpt.META).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="records no hash for state.pt"):
        ckpt.load_checkpoint(path)


def test_a_checkpoint_copied_under_another_step_is_refused(tmp_path):
    path = _save(tmp_path / "run", 2, seed=0)
    shutil.copytree(path, path.parent / "step-00000010")
    with pytest.warns(UserWarning, match="says step 2"):
        _, _, meta, found = ckpt.load_latest(tmp_path / "run")
    assert found == path and meta["step"] == 2
