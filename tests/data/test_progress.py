"""Loading progress fits where it is written: no carriage-return bar in a log file."""
from ganforge.data import progress as progress_module
from ganforge.data.progress import progress


def test_a_long_load_into_a_log_file_is_one_plain_line(capsys):
    # pytest's captured stderr is not a terminal, as in a batch job's log.
    items = list(progress(range(2000), total=2000, desc="loading digits"))
    err = capsys.readouterr().err
    assert items == list(range(2000))
    assert "\r" not in err
    assert err == "loading digits: 2000 images\n"


def test_a_short_load_says_nothing(capsys):
    assert list(progress(range(10), total=10, desc="loading few")) == list(range(10))
    assert capsys.readouterr().err == ""


def test_tqdm_disable_silences_the_load_line(capsys, monkeypatch):
    monkeypatch.setattr(progress_module, "tqdm_environment", lambda: {"disable": True})
    assert list(progress(range(2000), total=2000, desc="loading digits")) == list(range(2000))
    assert capsys.readouterr().err == ""
