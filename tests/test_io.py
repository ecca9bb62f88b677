"""Atomic writes and strict JSON lines (crash and disk-error cases: tests/reliability)."""
import json
import math

from ganforge.io import atomic_write_bytes, atomic_write_json, atomic_write_text, json_line, sha256_file


def test_atomic_writes_replace_the_whole_file_and_leave_no_temporaries(tmp_path):
    path = tmp_path / "sub" / "f.txt"
    atomic_write_text(path, "first, and longer")
    atomic_write_text(path, "second")
    assert path.read_text() == "second"
    atomic_write_bytes(tmp_path / "b", b"\x00\x01")
    atomic_write_json(tmp_path / "j.json", {"a": [1, 2]})
    assert json.loads((tmp_path / "j.json").read_text()) == {"a": [1, 2]}
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["b", "f.txt", "j.json", "sub"]
    assert len(sha256_file(tmp_path / "b")) == 64


def test_json_lines_turn_non_finite_numbers_into_null():
    line = json_line({"a": math.nan, "b": [1.0, math.inf], "c": {"d": -math.inf}, "e": 2})
    assert json.loads(line) == {"a": None, "b": [1.0, None], "c": {"d": None}, "e": 2}
    assert "\n" not in line
