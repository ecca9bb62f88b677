"""The run directory's owner: layout, config round trip, the run's dataset, the best generator."""
import json

import pytest
import torch

from ganforge import run
from ganforge.config import resolve
from ganforge.errors import CheckpointError, GanforgeError


def test_layout_names_every_file_of_a_run(tmp_path):
    assert run.config_path(tmp_path) == tmp_path / "config.json"
    assert run.metrics_path(tmp_path) == tmp_path / "metrics.jsonl"
    assert run.eval_log_path(tmp_path) == tmp_path / "eval.jsonl"
    assert run.checkpoints_dir(tmp_path) == tmp_path / "checkpoints"
    assert run.sample_grid_path(tmp_path, 12) == tmp_path / "samples" / "step-00000012.png"
    assert run.sample_grid_path(tmp_path) == tmp_path / "samples" / "latest.png"
    assert run.growth_snapshot_path(tmp_path, 3) == tmp_path / "growth" / "stage-03.safetensors"
    assert run.directions_dir(tmp_path) == tmp_path / "directions"


def test_config_round_trip_and_one_line_errors(tmp_path):
    cfg = resolve("dcgan", ["train.steps=7"])
    assert not run.is_run(tmp_path)
    run.write_config(tmp_path, cfg)
    assert run.is_run(tmp_path) and run.read_config(tmp_path) == cfg
    with pytest.raises(GanforgeError, match="does not exist"):
        run.read_config(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a ganforge run directory"):
        run.read_config(tmp_path / "empty")
    run.config_path(tmp_path).write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        run.read_config(tmp_path)


def test_new_run_dirs_are_numbered_after_the_highest(tmp_path):
    (tmp_path / "dcgan-007").mkdir()
    (tmp_path / "dcgan-x").mkdir()
    assert run.new_run_dir(tmp_path, "dcgan").name == "dcgan-008"
    assert run.new_run_dir(tmp_path, "dcgan").name == "dcgan-009"
    assert run.new_run_dir(tmp_path, "wgan").name == "wgan-001"


def test_the_runs_dataset_is_rebuilt_with_every_data_setting():
    cfg = resolve("gan-2d", ["data.toy_samples=50", "train.seed=3"])
    data = run.dataset(cfg)
    assert len(data.points) == 50  # toy_samples is kept (it was dropped in places before)
    assert torch.equal(run.dataset(cfg).points, data.points)
    training, plan = run.training_data(cfg)
    assert training.points.shape == data.points.shape and plan.in_memory  # points never stream


def test_the_data_summary_prints_the_decision_and_the_provenance():
    summary = {"source": "f", "samples": 23, "shape": [1, 16, 16], "num_classes": 2, "skipped": 1,
               "streamed": True, "in_memory": False, "memory_decision": "decoded 5.8 KiB is over ...",
               "provenance": {"ganforge": "9.9", "git_commit": None, "torch": "2.13.0", "cuda": None,
                              "cudnn": None, "device": "cpu: X", "processes": 2}}
    first, second = run.data_summary_text(summary).splitlines()
    assert first == "data: f: 23 samples of 1x16x16, 2 classes, 1 skipped; streamed (decoded 5.8 KiB is over ...)"
    assert second == "run by: ganforge 9.9, torch 2.13.0 (no CUDA), cpu: X, 2 process(es)"
    summary["computes"] = {"precision": "bf16", "channels_last": True}
    assert run.data_summary_text(summary).splitlines()[1].endswith("2 process(es); computes in bf16, channels-last")


def test_best_generator_round_trip_and_hash_check(tmp_path):
    assert run.best_record(tmp_path) is None
    with pytest.raises(CheckpointError, match="has no best generator"):
        run.load_best_generator(tmp_path)
    state = {"w": torch.arange(4.0)}
    run.write_best_generator(tmp_path, state, {"step": 5, "fid": 1.5, "extractor": "x", "n": 10})
    record = run.best_record(tmp_path)
    assert record["fid"] == 1.5 and len(record["sha256"]) == 64
    weights, path, step = run.load_best_generator(tmp_path)
    assert torch.equal(weights["w"], state["w"]) and step == 5 and path.is_file()
    path.write_bytes(path.read_bytes()[:-1] + b"\x00")
    with pytest.raises(CheckpointError, match="does not match the hash"):
        run.load_best_generator(tmp_path)
    (path.parent / run.BEST_META).write_text(json.dumps({"weights": "gone.safetensors", "step": 1}))
    with pytest.raises(CheckpointError):
        run.load_best_generator(tmp_path)
