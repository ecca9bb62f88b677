"""Property: whatever is done to a real run directory's files (random bytes, truncation, flipped
bytes, wrong JSON types, huge numbers, links to /dev/zero or out of the run, FIFOs, folders where
files belong, deletions), `sample`, `eval`, `train --resume` and the explorer's API end in a
result or one error line: never a traceback, a hang (60 s per case) or memory above the limit
(RLIMIT_AS 4 GiB per case). The engine is tests/reliability/run_fuzz.py; benchmarks/harden_fuzz.py
runs many more cases of the same kind."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from .run_fuzz import FAILURES, OPS, Chooser, Worker, apply_case, draw_case, make_base

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return make_base(tmp_path_factory.mktemp("fuzz-base"))


@pytest.fixture(scope="module")
def worker():
    w = Worker(REPO)
    yield w
    w.close()


def test_the_undamaged_run_works_for_every_operation(base, worker, tmp_path):
    run, clf = base
    for op in OPS:
        work = tmp_path / op
        shutil.copytree(run, work / "run", symlinks=True)
        result = worker.run(op, work / "run", clf, work / "scratch")
        assert result["outcome"] == "ok", result


@pytest.mark.parametrize("op", OPS)  # every operation gets its share of cases
@settings(max_examples=6, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_damaged_run_gives_a_result_or_one_line(base, worker, tmp_path_factory, op, data):
    run, clf = base
    case = {**draw_case(Chooser(data=data)), "op": op}
    work = tmp_path_factory.mktemp("case")
    shutil.copytree(run, work / "run", symlinks=True)
    apply_case(case, work / "run", work / "outside")
    result = worker.run(case["op"], work / "run", clf, work / "scratch")
    event(f"{case['op']}: {result['outcome']}")
    assert result["outcome"] not in FAILURES, (case, result)
    assert result["outcome"] in ("ok", "error-line"), result
