"""Progress output: a bar on a terminal, plain lines elsewhere, nothing when quiet."""
import io
import os
import subprocess
import sys


from ganforge import api
from ganforge.config import resolve
from ganforge.training import progress as progress_module
from ganforge.training.progress import ProgressBar, ProgressLines, format_record, make_progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _loud(tiny_dcgan):
    return [s for s in tiny_dcgan if s != "train.progress=false"] + ["train.steps=4"]


def test_a_log_file_gets_one_plain_line_per_interval(tmp_path, tiny_dcgan, capsys):
    api.train(resolve("dcgan", _loud(tiny_dcgan)), out=tmp_path / "run")
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = [line for line in err.splitlines() if line.startswith("step")]
    assert len(lines) == 2  # log_every=2, steps=4
    assert lines[0].startswith("step 2/4 ( 50%)") and "img/s" in lines[0] and "d_loss" in lines[0]
    assert "ETA" in lines[0] and "ETA" not in lines[1]  # nothing left to estimate at the end
    assert lines[1].startswith("step 4/4 (100%)")


def test_quiet_training_prints_nothing(tmp_path, tiny_dcgan, capsys):
    api.train(resolve("dcgan", tiny_dcgan + ["train.steps=2"]), out=tmp_path / "run")
    assert capsys.readouterr().err == ""


def test_a_terminal_gets_a_bar_and_a_pipe_gets_lines():
    assert isinstance(make_progress(True, 10, 0, Terminal()), ProgressBar)
    assert isinstance(make_progress(True, 10, 0, io.StringIO()), ProgressLines)
    assert type(make_progress(False, 10, 0, Terminal())) is progress_module.Progress


def test_the_bar_redraws_in_place_and_takes_tqdms_environment(monkeypatch):
    out = Terminal()
    bar = make_progress(True, 10, 0, out)
    bar.advance(5)
    bar.close()
    assert "\r" in out.getvalue() and "5/10" in out.getvalue()
    monkeypatch.setattr(progress_module, "tqdm_environment", lambda: {"disable": True})
    assert type(make_progress(True, 10, 0, Terminal())) is progress_module.Progress
    assert type(make_progress(True, 10, 0, io.StringIO())) is progress_module.Progress


def test_evaluation_records_print_their_metrics():
    line = format_record({"step": 20, "eval/fid": 12.3456, "time": 1.0}, 100)
    assert line == "step  20/100 ( 20%)  eval/fid 12.35"


def _cli(args, env_extra=None, **kwargs):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-m", "ganforge", *args], env=env, **kwargs)


def test_tqdm_disable_silences_training_output(tmp_path, tiny_dcgan):
    sets = [a for s in _loud(tiny_dcgan) for a in ("--set", s)]
    proc = _cli(["train", "--out", str(tmp_path / "run"), *sets], {"TQDM_DISABLE": "1"},
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "step" not in err and "run directory" in out
