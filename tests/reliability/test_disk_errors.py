"""A full disk or a read-only output folder gives one clear error, and the previous checkpoint
stays intact and resumable.

The tests run as root here, where permission bits do not stop writes and no tiny filesystem can
be mounted, so most failures are injected: the os function at each step of a write raises the
OSError (ENOSPC, EROFS, EIO) the kernel would. That covers our handling of the error, not the
kernel's behaviour. The permission-bit test runs only as an ordinary user (as on CI runners).
"""
import errno
import os
import stat
import tempfile
from pathlib import Path

import pytest
import torch

from ganforge import api, io
from ganforge.cli import main
from ganforge.errors import CheckpointError, GanforgeError
from ganforge.run import checkpoints_dir
from ganforge.training import checkpoint as ckpt
from ganforge.training import logbook

from .tiny import RECIPE, TINY, steps_saved, train

REAL_REPLACE, REAL_SAVE_FILE = os.replace, ckpt.save_file


def _oserror(code):
    return OSError(code, os.strerror(code))


def _save(run, step, seed):
    torch.manual_seed(seed)
    return ckpt.save_checkpoint(run, step, {"G": torch.nn.Linear(3, 2)}, {"seed": torch.tensor(seed)}, {})


def _replace_failing_for(fragment, code):
    def replace(src, dst, *args, **kwargs):
        if fragment in str(src):
            raise _oserror(code)
        return REAL_REPLACE(src, dst, *args, **kwargs)
    return replace


def _fail_folder_creation(m):
    def mkdir(path, *args, **kwargs):
        raise _oserror(errno.EROFS)
    m.setattr(os, "mkdir", mkdir)


def _fail_weights(m):  # the real safetensors error for a write that cannot happen
    m.setattr(ckpt, "save_file", lambda tensors, path: REAL_SAVE_FILE(tensors, "/nonexistent-ganforge/w"))


def _fail_state_half_way(m):
    def save(obj, f):
        f.write(b"PK\x03\x04 half a zip")
        raise _oserror(errno.ENOSPC)
    m.setattr(ckpt.torch, "save", save)


def _fail_fsync(m):
    def fsync(fd):
        raise _oserror(errno.EIO)
    m.setattr(os, "fsync", fsync)


def _fail_meta(m):
    def mkstemp(*args, **kwargs):
        raise _oserror(errno.ENOSPC)
    m.setattr(tempfile, "mkstemp", mkstemp)


def _fail_final_rename(m):
    m.setattr(os, "replace", _replace_failing_for(".tmp-step-", errno.EROFS))


@pytest.mark.parametrize("fail, reason", [
    (_fail_folder_creation, "Read-only file system"),
    (_fail_weights, "I/O error"),
    (_fail_state_half_way, "No space left on device"),
    (_fail_fsync, "Input/output error"),
    (_fail_meta, "No space left on device"),
    (_fail_final_rename, "Read-only file system"),
])
def test_failed_checkpoint_write_is_one_clear_error_and_keeps_the_previous(tmp_path, monkeypatch, fail, reason):
    run = tmp_path / "run"
    _save(run, 2, seed=0)
    _save(run, 4, seed=1)
    with monkeypatch.context() as m:
        fail(m)
        with pytest.raises(CheckpointError) as caught:
            _save(run, 6, seed=2)
    message = str(caught.value)
    assert message.startswith(f"cannot write checkpoint step 6 in {checkpoints_dir(run)}: ")
    assert reason in message and message.endswith("(the previous checkpoint is intact)")
    assert "\n" not in message
    assert steps_saved(run) == [2, 4]
    assert [p.name for p in checkpoints_dir(run).iterdir() if p.name.startswith(".")] == []
    _, state, meta, _ = ckpt.load_latest(run)
    assert meta["step"] == 4 and int(state["seed"]) == 1


def test_failed_re_save_restores_the_step_it_was_replacing(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _save(run, 4, seed=1)
    with monkeypatch.context() as m:
        _fail_final_rename(m)
        with pytest.raises(CheckpointError, match="previous checkpoint is intact"):
            _save(run, 4, seed=5)
    assert [p.name for p in checkpoints_dir(run).iterdir()] == ["step-00000004"]
    assert int(ckpt.load_latest(run)[1]["seed"]) == 1


def test_disk_full_during_training_stops_cleanly_and_the_run_resumes_exactly(tmp_path, monkeypatch, capsys):
    sets = TINY + ["train.steps=6"]
    straight = train(tmp_path, "straight", "train.steps=6")
    argv = ["train", "--recipe", RECIPE, "--out", str(tmp_path / "full")] + [a for s in sets for a in ("--set", s)]
    with monkeypatch.context() as m:
        m.setattr(os, "replace", _replace_failing_for(".tmp-step-00000004", errno.ENOSPC))
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write checkpoint step 4 in ") and "No space left on device" in err
    assert len(err.strip().splitlines()) == 1
    assert steps_saved(tmp_path / "full") == [2]
    resumed = api.resume(tmp_path / "full")
    a, b = [ckpt.load_checkpoint(ckpt.checkpoint_dirs(r)[-1])[0] for r in (straight, resumed)]
    assert a.keys() == b.keys() and all(torch.equal(a[m][k], b[m][k]) for m in a for k in a[m])


def test_disk_full_while_writing_a_sample_grid_is_one_line(tmp_path, monkeypatch, capsys):
    sets = TINY + ["train.steps=4", "train.sample_every=2"]
    argv = ["train", "--recipe", RECIPE, "--out", str(tmp_path / "run")] + [a for s in sets for a in ("--set", s)]
    monkeypatch.setattr(os, "replace", _replace_failing_for(f"{os.sep}samples{os.sep}", errno.ENOSPC))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: cannot write {tmp_path / 'run' / 'samples' / 'step-00000002.png'}: No space left on device"


@pytest.mark.parametrize("target, name, code", [
    (tempfile, "mkstemp", errno.EROFS), (os, "fsync", errno.ENOSPC), (os, "replace", errno.EROFS),
])
def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch, target, name, code):
    path = tmp_path / "config.json"
    io.atomic_write_text(path, "old")

    def fail(*args, **kwargs):
        raise _oserror(code)
    with monkeypatch.context() as m:
        m.setattr(target, name, fail)
        with pytest.raises(GanforgeError, match=os.strerror(code)) as caught:
            io.atomic_write_text(path, "new")
    assert str(tmp_path) in str(caught.value)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_atomic_writes_give_ordinary_file_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    io.atomic_write_text(tmp_path / "new.json", "{}")
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o666 & ~umask
    (tmp_path / "private.json").write_text("{}")
    os.chmod(tmp_path / "private.json", 0o600)
    io.atomic_write_text(tmp_path / "private.json", "[]")
    assert stat.S_IMODE((tmp_path / "private.json").stat().st_mode) == 0o600


def _permission_bits_stop_writes(folder: Path) -> bool:
    """False for root (or any process with CAP_DAC_OVERRIDE): chmod does not stop it."""
    probe = folder / "probe"
    probe.mkdir()
    os.chmod(probe, 0o555)
    try:
        (probe / "x").write_text("")
        return False
    except PermissionError:
        return True
    finally:
        os.chmod(probe, 0o755)


def test_read_only_checkpoint_folder_through_the_trainer(tmp_path):
    if not _permission_bits_stop_writes(tmp_path):
        pytest.skip("this process may write into read-only folders (root); see the injected-error tests")
    run = train(tmp_path, "run", "train.steps=4")
    os.chmod(checkpoints_dir(run), 0o555)
    try:
        with pytest.raises(CheckpointError, match="Permission denied.*previous checkpoint is intact"):
            api.resume(run, {"train": {"steps": 6}})
    finally:
        os.chmod(checkpoints_dir(run), 0o755)
    assert steps_saved(run) == [2, 4]


@pytest.mark.parametrize("out", ["/proc/ganforge-cannot-exist/run", "{tmp}/a-file/run"])
def test_unwritable_out_is_a_one_line_error(tmp_path, capsys, out):
    (tmp_path / "a-file").write_text("")
    out = out.format(tmp=tmp_path)
    argv = ["train", "--out", out] + [a for s in TINY + ["train.steps=1"] for a in ("--set", s)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and out in err and len(err.splitlines()) == 1


def test_disk_full_while_appending_the_metrics_log_is_one_line(tmp_path, monkeypatch, capsys):
    def full(path, mode="r", *args, **kwargs):
        if Path(path).name == "metrics.jsonl" and "a" in mode:
            raise _oserror(errno.ENOSPC)
        return open(path, mode, *args, **kwargs)
    monkeypatch.setattr(logbook, "open", full, raising=False)
    argv = ["train", "--out", str(tmp_path / "run")] + [a for s in TINY + ["train.steps=2"] for a in ("--set", s)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "metrics.jsonl" in err and "No space left on device" in err
