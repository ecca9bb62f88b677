"""Mutate a real small run directory and run ganforge on it, under a memory and a time limit.

Shared by tests/reliability/test_run_dir_fuzz.py (hypothesis, a few dozen cases) and
benchmarks/harden_fuzz.py (many more). A *case* is a list of mutations of one run's files plus
one operation: `sample`, `eval`, `train --resume`, or the explorer's API. The operation runs in a
child forked from a worker process that imported ganforge once (a fresh interpreter per case
would spend seconds importing torch), with RLIMIT_AS as the memory limit and a wall-clock limit.

Outcomes: "ok" (a result), "error-line" (exit 2, stderr only one-line `error:` / `warning:`
lines), and the failures "traceback", "hang" (over the time limit), "over-memory" (an
allocation failed at the limit) and "crash" (killed by a signal).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

OPS = ("sample", "eval", "resume", "explore")
FAILURES = ("traceback", "hang", "over-memory", "crash")

# What a case may damage. CK is the newest checkpoint folder, OLD the one before it, ALL both.
TARGETS = ("config.json", "data.json", "metrics.jsonl", "CK/meta.json", "CK/weights.safetensors",
           "CK/state.pt", "CK", "ALL/meta.json", "ALL/weights.safetensors", "ALL/state.pt",
           "eval.jsonl", "checkpoints")
KINDS = ("random-bytes", "truncate", "flip-bytes", "json-type", "huge-number", "symlink-dev-zero",
         "symlink-outside", "fifo", "empty", "delete", "directory")
ODD_VALUES = ([], {}, None, "x", True, 1e308, -1, 10**30, 2**63, -1e-12, 0, 0.5, "\u00ff" * 3,
              [[[[[[[[]]]]]]]], {"name": "dcgan"}, [1, 2048, 2048])
HUGE_VALUES = (10**30, 2**63, 2**64, -(2**63), 1e308, 1e9, 10**9, 65536, 100_000, 4096, -1, 0)


# ------------------------------------------------------------------------- the base run

def make_base(folder: Path) -> tuple[Path, Path]:
    """A tiny trained run with two checkpoints, and a classifier for `eval` (both real)."""
    from ganforge import api
    from ganforge.config import resolve
    from ganforge.data import load_dataset
    from ganforge.metrics.classifier import save_classifier, train_classifier
    from tests.reliability.tiny import TINY
    run = api.train(resolve("dcgan", TINY + ["train.steps=4", "train.threads=1"]), out=folder / "run")
    dataset = load_dataset("digits", image_size=16)
    model, acc = train_classifier(dataset, epochs=1, seed=0)
    clf = folder / "classifier"
    save_classifier(model, {"held_out_accuracy": acc, "dataset": dataset.name, "source": "digits",
                            "epochs": 1, "seed": 0}, clf)
    return run, clf


# ------------------------------------------------------------------------- mutations

class Chooser:
    """The few kinds of choice a case needs, from hypothesis (`data.draw`) or from random.Random."""

    def __init__(self, rng=None, data=None):
        self.rng, self.data = rng, data

    def integer(self, lo: int, hi: int) -> int:
        if self.data is not None:
            from hypothesis import strategies as st
            return self.data.draw(st.integers(lo, hi))
        return self.rng.randint(lo, hi)

    def pick(self, items):
        return items[self.integer(0, len(items) - 1)]

    def blob(self, most: int) -> bytes:
        if self.data is not None:
            from hypothesis import strategies as st
            return self.data.draw(st.binary(max_size=most))
        return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, most)))


def draw_case(c: Chooser) -> dict:
    mutations = [{"target": c.pick(TARGETS), "kind": c.pick(KINDS), "seed": c.integer(0, 2**31),
                  "rehash": bool(c.integer(0, 1))} for _ in range(c.integer(1, 2))]
    for m in mutations:
        if m["kind"] == "random-bytes":
            m["bytes"] = c.blob(256).hex()
    return {"mutations": mutations, "op": c.pick(OPS)}


def _targets(run: Path, target: str) -> list[Path]:
    dirs = sorted((run / "checkpoints").glob("step-*"))
    head, _, rest = target.partition("/")
    if head in ("CK", "OLD", "ALL"):
        chosen = {"CK": dirs[-1:], "OLD": dirs[-2:-1], "ALL": dirs}[head]
        return [d / rest if rest else d for d in chosen]
    return [run / target]


def apply_case(case: dict, run: Path, outside: Path) -> None:
    """Damage a copy of the base run as the case says (files outside the run go to `outside`)."""
    for m in case["mutations"]:
        rng = random.Random(m["seed"])
        for path in _targets(run, m["target"]):
            if not path.parent.is_dir():
                continue  # an earlier mutation replaced the folder: nothing here to damage
            _mutate(path, m, rng, outside)
            if m.get("rehash") and path.parent.parent.name == "checkpoints":
                _rehash(path.parent)


def _mutate(path: Path, m: dict, rng, outside: Path) -> None:
    kind = m["kind"]
    exists = os.path.lexists(path)
    data = path.read_bytes() if exists and _regular(path) else b""
    if kind in ("symlink-dev-zero", "symlink-outside", "fifo", "delete", "directory", "empty"):
        copy = outside / f"{path.name}-{rng.randrange(10**9)}"
        if kind == "symlink-outside":  # the same content, moved out of the run
            outside.mkdir(parents=True, exist_ok=True)
            if path.is_dir() and not path.is_symlink():
                shutil.copytree(path, copy, symlinks=True)
            else:
                copy.write_bytes(data)
        if exists:
            _remove(path)
        if kind == "symlink-dev-zero":
            path.symlink_to("/dev/zero")
        elif kind == "symlink-outside":
            path.symlink_to(copy)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "directory":
            path.mkdir()
        elif kind == "empty":
            path.write_bytes(b"")
        return
    if not exists or not _regular(path):
        return  # byte-level damage to a folder, link or FIFO: nothing to do
    if kind == "random-bytes":
        data = bytes.fromhex(m["bytes"])
    elif kind == "truncate":
        data = data[:rng.randrange(len(data) + 1)]
    elif kind == "flip-bytes":
        data = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data)
    elif kind in ("json-type", "huge-number"):
        data = _json_damage(data, kind, rng)
    path.write_bytes(data)


def _json_damage(data: bytes, kind: str, rng) -> bytes:
    lines = data.split(b"\n") if data.count(b"\n") > 1 else [data]
    at = rng.randrange(len(lines))
    try:
        doc = json.loads(lines[at])
    except ValueError:
        return data
    paths = list(_paths(doc))
    new = rng.choice(ODD_VALUES if kind == "json-type" else HUGE_VALUES)
    if kind == "huge-number":  # numbers only: keeps the document otherwise valid
        paths = [p for p in paths if p and isinstance(_get(doc, p), (int, float))
                 and not isinstance(_get(doc, p), bool)] or paths
    path = rng.choice(paths)
    doc = _set(doc, path, new)
    lines[at] = json.dumps(doc).encode()
    return b"\n".join(lines)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def _set(doc, path, value):
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _regular(path: Path) -> bool:
    """A plain file the harness itself may read (a FIFO made by an earlier mutation would block)."""
    return path.is_file() and not path.is_symlink()


def _rehash(folder: Path) -> None:
    """What an attacker who edits a checkpoint also does: make meta.json's hashes match."""
    meta_path = folder / "meta.json"
    if not _regular(meta_path):
        return
    try:
        meta = json.loads(meta_path.read_text())
        hashes = {}
        for name in ("weights.safetensors", "state.pt"):
            p = folder / name
            if _regular(p) and p.stat().st_size < 1 << 26:
                hashes[name] = hashlib.sha256(p.read_bytes()).hexdigest()
        if isinstance(meta, dict) and isinstance(meta.get("sha256"), dict):
            meta["sha256"].update(hashes)
            meta_path.write_text(json.dumps(meta))
    except (OSError, ValueError, UnicodeDecodeError):
        pass


# ------------------------------------------------------------------------- running one case

def _argv(op: str, run: Path, clf: Path, scratch: Path) -> list[str]:
    if op == "sample":
        return ["sample", str(run), "-n", "4", "--out", str(scratch / "s.png")]
    if op == "eval":
        return ["eval", str(run), "--n", "32", "--metrics", "fid", "--extractor", f"classifier:{clf}",
                "--cache-dir", str(scratch / "cache")]
    return ["train", "--resume", str(run), "--set", "train.steps=6", "--set", "train.threads=1",
            "--set", "train.progress=false"]


def _explore(run: Path) -> int:
    """What `ganforge explore RUN` and a browser would do, through the app in-process."""
    from ganforge.api import load
    from ganforge.errors import GanforgeError
    from ganforge.explore import server
    from tests.reliability import asgi
    try:
        runs = server.served_runs([load(run)])
    except GanforgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    app = server.create_app(runs, allowed_hosts=["127.0.0.1"])
    for method, path, body, query in (("GET", "/api/runs", b"", ""),
                                      ("POST", "/api/runs/0/grid", b'{"count": 2}', ""),
                                      ("GET", "/api/runs/0/image.png", b"", "seed=3")):
        status, _, answer = asgi.request(app, method, path, body, query)
        if status >= 500:
            raise RuntimeError(f"{path} answered {status}: {answer[:200]!r}")
    return 0


def _child(op: str, run: Path, clf: Path, scratch: Path, memory_bytes: int, report: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    err = os.open(scratch / "stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(err, 2)
    out = os.open(os.devnull, os.O_WRONLY)
    os.dup2(out, 1)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    import torch
    torch.set_num_threads(1)
    rc, detail = 0, ""
    try:
        if op == "explore":
            from ganforge.cli import _one_line_warning
            warnings.formatwarning = _one_line_warning
            rc = _explore(run)
        else:
            from ganforge.cli import main
            rc = main(_argv(op, run, clf, scratch))
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except BaseException as e:
        rc, detail = 99, "".join(traceback.format_exception(e))[-4000:]
    os.write(report, json.dumps({"rc": rc, "detail": detail}).encode())
    os._exit(0)


def run_case(op: str, run: Path, clf: Path, scratch: Path, time_limit: float,
             memory_bytes: int) -> dict:
    """Fork, run the operation under the limits, classify what happened."""
    scratch.mkdir(parents=True, exist_ok=True)
    read, write = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child never returns
        try:
            os.close(read)
            _child(op, run, clf, scratch, memory_bytes, write)
        finally:
            os._exit(3)
    os.close(write)
    status = None
    while time.monotonic() - start < time_limit:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read)
        return {"outcome": "hang", "seconds": round(time.monotonic() - start, 1)}
    with os.fdopen(read, "rb") as f:
        raw = f.read()
    seconds = round(time.monotonic() - start, 1)
    stderr = (scratch / "stderr.txt").read_text(errors="replace")
    if os.WIFSIGNALED(status):
        return {"outcome": "crash", "signal": os.WTERMSIG(status), "stderr": stderr[-2000:], "seconds": seconds}
    result = json.loads(raw) if raw else {"rc": 98, "detail": "no report"}
    return {**_classify(result["rc"], stderr, result["detail"]), "seconds": seconds}


def _classify(rc: int, stderr: str, detail: str) -> dict:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if detail or "Traceback" in stderr:
        return {"outcome": "traceback", "stderr": (detail or stderr)[-3000:]}
    if any("out of memory" in line or "MemoryError" in line for line in lines):
        return {"outcome": "over-memory", "stderr": stderr[-2000:]}
    if rc == 0:
        return {"outcome": "ok"}
    one_line = all(line.startswith(("error: ", "warning: ")) for line in lines)
    errors = [line for line in lines if line.startswith("error: ")]
    if rc == 2 and one_line and len(errors) == 1:
        return {"outcome": "error-line", "error": errors[0][:300]}
    return {"outcome": "traceback", "stderr": stderr[-3000:], "rc": rc}


# ------------------------------------------------------------------------- the worker

def serve() -> None:
    """Worker loop: one JSON request per stdin line, one JSON result per stdout line. It
    imports ganforge and torch once and forks a child per case (no torch work happens here
    before forking, so no thread pool is inherited)."""
    import ganforge.cli  # noqa: F401  (imported once, shared by every forked child)
    import ganforge.explore.server  # noqa: F401
    import tests.reliability.asgi  # noqa: F401
    for line in sys.stdin:
        req = json.loads(line)
        result = run_case(req["op"], Path(req["run"]), Path(req["clf"]), Path(req["scratch"]),
                          req["time_limit"], req["memory_bytes"])
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


class Worker:
    """The pytest or benchmark side of the worker process."""

    def __init__(self, repo: Path, budget: str = "1GiB"):
        env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2",
               "GANFORGE_MEMORY_BUDGET": budget, "PYTHONWARNINGS": "default"}
        self.proc = subprocess.Popen([sys.executable, "-c", "from tests.reliability.run_fuzz import serve; serve()"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=repo)

    def run(self, op: str, run: Path, clf: Path, scratch: Path, time_limit: float = 60,
            memory_bytes: int = 4 << 30) -> dict:
        self.proc.stdin.write(json.dumps({"op": op, "run": str(run), "clf": str(clf), "scratch": str(scratch),
                                          "time_limit": time_limit, "memory_bytes": memory_bytes}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fuzz worker died")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
