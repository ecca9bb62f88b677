"""Provenance: what produced a run, and `ganforge --version`."""
import json
import shutil
import subprocess

import pytest
import torch

from ganforge import __version__, api
from ganforge.cli import main
from ganforge.config import resolve
from ganforge.provenance import PACKAGE_DIR, provenance, source_commit


def test_record_names_versions_device_and_processes(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    record = provenance(device="cpu")
    assert record["ganforge"] == __version__ and record["torch"] == torch.__version__
    assert record["cuda"] == torch.version.cuda and record["processes"] == 4
    assert record["device"].startswith("cpu: ")
    assert provenance(device="cpu", processes=2)["processes"] == 2
    json.dumps(record)  # goes into JSON files as is


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_commit_is_the_checkouts_head_and_none_elsewhere(tmp_path):
    head = subprocess.run(["git", "-C", str(PACKAGE_DIR), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0 and (PACKAGE_DIR.parent / ".git").exists():
        assert source_commit(PACKAGE_DIR).split("-")[0] == head.stdout.strip()
    outside = tmp_path / "ganforge"
    outside.mkdir()
    assert source_commit(outside) is None  # not a checkout: no failure, no commit
    # An installed copy inside some other checkout (a venv in a project) is not that commit.
    subprocess.run(["git", "init", "-q", str(tmp_path / "project")], check=True)
    nested = tmp_path / "project" / ".venv" / "lib" / "ganforge"
    nested.mkdir(parents=True)
    assert source_commit(nested) is None


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ganforge {__version__}") and f"torch {torch.__version__}" in out


def test_a_run_records_its_provenance_and_old_runs_still_resume(tmp_path, tiny_dcgan, capsys):
    sets = tiny_dcgan + ["train.steps=4", "train.progress=true"]
    run_dir = api.train(resolve("dcgan", sets), out=tmp_path / "run")
    printed = capsys.readouterr().out
    assert "data: mnist: " in printed and "in memory (" in printed and "run by: ganforge" in printed
    summary = json.loads((run_dir / "data.json").read_text())
    assert summary["provenance"]["torch"] == torch.__version__ and summary["provenance"]["processes"] == 1
    assert summary["in_memory"] and summary["memory_limit_bytes"] == 2 * 1024**3
    assert summary["computes"] == {"precision": "fp32", "channels_last": False}
    assert "process(es); computes in fp32\n" in printed
    meta_path = run_dir / "checkpoints" / "step-00000004" / "meta.json"
    meta = json.loads(meta_path.read_text())
    assert meta["provenance"] == summary["provenance"]
    # A run written before these fields: in_memory a plain bool, no memory_limit, no provenance.
    config = json.loads((run_dir / "config.json").read_text())
    assert config["data"].pop("in_memory") == "auto" and config["data"].pop("memory_limit") == "2GiB"
    config["data"]["in_memory"] = True
    (run_dir / "config.json").write_text(json.dumps(config))
    del meta["provenance"]
    meta_path.write_text(json.dumps(meta))
    api.resume(run_dir, {"train": {"steps": 6}})
    assert json.loads((run_dir / "checkpoints" / "step-00000006" / "meta.json").read_text())["step"] == 6
