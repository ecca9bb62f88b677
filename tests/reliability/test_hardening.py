"""Hostile run directories and extreme arguments end in one line, never a hang, a traceback or a
huge allocation (issue 18). Each test names the case it guards; the property-based sweep over
mutated run directories is tests/reliability/test_run_dir_fuzz.py."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import unquote

import pytest
import torch
from safetensors.torch import load_file

from ganforge import api, limits, safe_files
from ganforge.cli import build_parser, main
from ganforge.config import FIXED_SECTIONS, Config, recipe_names, resolve
from ganforge.data import load_dataset
from ganforge.errors import CheckpointError, ConfigError, GanforgeError
from ganforge.explore import server
from ganforge.explore.directions import run_directions
from ganforge.metrics.evaluate import append_jsonl
from ganforge.nn.latent import truncated_normal
from ganforge.run import checkpoints_dir
from ganforge.training import checkpoint as ckpt
from ganforge.training.build import planned_components, validated_sections
from ganforge.training.logbook import read_metrics

from . import asgi
from .tiny import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train(tmp_path_factory.mktemp("harden"), "run", "train.steps=4", "train.threads=1")


@pytest.fixture
def run(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy, symlinks=True)
    return copy


@pytest.fixture
def deadline():
    """A hang fails the test after 60 s instead of blocking the suite (the reads that used to
    hang are Python loops, so the alarm interrupts them)."""
    def expired(signum, frame):
        raise TimeoutError("hung")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _newest(run: Path) -> Path:
    return ckpt.checkpoint_dirs(run)[-1]


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


# ---------------------------------------------------------------- 1. one validator of ranges

def test_every_numeric_config_field_has_a_documented_range():
    for section, cls in FIXED_SECTIONS.items():
        for f in dataclasses.fields(cls):
            default = getattr(Config(), section).__getattribute__(f.name)
            numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
            numeric |= bool(isinstance(default, tuple) and default and isinstance(default[0], float))
            if numeric:
                assert f"{section}.{f.name}" in limits.CONFIG, f"{section}.{f.name} has no limit"


def test_every_numeric_cli_argument_has_a_documented_range():
    parser = build_parser()
    commands = [a for a in parser._actions if a.dest == "command"][0].choices
    stack, seen = list(commands.values()), set()
    while stack:
        p = stack.pop()
        for action in p._actions:
            if action.choices and isinstance(action.choices, dict):
                stack.extend(action.choices.values())
            if action.type in (int, float) and action.dest != "help":
                seen.add(action.dest)
                assert action.dest in limits.ARGUMENTS, f"--{action.dest} has no limit"
    assert {"seed", "truncation", "standing_stats", "n"} <= seen


@pytest.mark.parametrize("flag, value, named", [
    ("--truncation", "1e-12", "--truncation"), ("--truncation", "-1", "--truncation"),
    ("--truncation", "nan", "--truncation"), ("--truncation", "inf", "--truncation"),
    ("--seed", "99999999999999999999999", "--seed"), ("--seed", "-1", "--seed"),
    ("--standing-stats", "100000000", "--standing-stats"), ("--standing-stats", "-1", "--standing-stats"),
    ("-n", "0", "--n"),
])
def test_out_of_range_arguments_are_one_line_before_any_work(capsys, tmp_path, flag, value, named):
    # The run directory does not exist: the range is checked before anything is opened.
    err = _one_line_error(capsys, ["sample", str(tmp_path / "no-such-run"), flag, value])
    assert named in err


@pytest.mark.parametrize("setting, named", [
    ("train.threads=-1", "train.threads"), ("train.seed=-1", "train.seed"),
    ("train.seed=99999999999999999999999", "train.seed"), ("optim.g_lr=nan", "optim.g_lr"),
    ("generator.z_dim=1e9", "generator.z_dim"), ("generator.width=0", "generator.width"),
    ("family.d_steps=1000000", "family.d_steps"), ("eval.n=0", "eval.n"),
])
def test_out_of_range_config_values_are_refused(setting, named):
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        validated_sections(resolve("dcgan", [setting]))


@pytest.mark.parametrize("seed", [-1, 0, 7, 2**31, limits.SEED_MAX, 2**63, 2**64])
def test_cli_config_and_explorer_accept_the_same_seeds(seed):
    def accepted(check) -> bool:
        try:
            check()
            return True
        except (GanforgeError, server.BadRequest):
            return False
    cli = accepted(lambda: limits.check_arguments({"seed": seed}))
    config = accepted(lambda: resolve("dcgan", [f"train.seed={seed}"]))
    explorer = accepted(lambda: server._seed(seed))
    assert cli == config == explorer == (0 <= seed < 2**63)


def test_truncated_normal_with_a_tiny_threshold_ends_and_stays_in_range():
    # Before: the redraw loop spun forever (acceptance odds 8e-13 per draw). In a subprocess, so
    # a regression fails on the timeout instead of hanging the suite.
    code = ("import torch; from ganforge.nn.latent import truncated_normal; "
            "x = truncated_normal((64, 128), 1e-12, generator=torch.Generator().manual_seed(0)); "
            "assert x.abs().max() <= 1e-12 and x.std() > 0, x; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert out.stdout.strip() == "ok", out.stderr


def test_truncated_normal_is_unchanged_for_usual_thresholds():
    gen = torch.Generator().manual_seed(3)
    x = truncated_normal((256, 64), 0.5, generator=gen)
    assert x.abs().max() <= 0.5
    # Same stream as drawing and redrawing by hand: the bound never changes ordinary results.
    gen = torch.Generator().manual_seed(3)
    ref = torch.randn(256 * 64, generator=gen)
    bad = torch.nonzero(ref.abs() > 0.5).squeeze(1)
    while bad.numel():
        redraw = torch.randn(bad.numel(), generator=gen)
        ref[bad] = redraw
        bad = bad[redraw.abs() > 0.5]
    assert torch.equal(x.view(-1), ref)


# ---------------------------------------------------------------- 2. sizes before allocation

@pytest.fixture
def no_model_built(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was built before its sizes were checked")
    monkeypatch.setattr(api, "build_components", refuse)


def test_meta_json_shape_is_checked_against_the_weights_header_before_building(run, no_model_built):
    for folder in ckpt.checkpoint_dirs(run):
        _edit_json(folder / ckpt.META, lambda m: m.update(data_shape=[1, 2048, 2048]))
    with pytest.raises(CheckpointError, match="does not fit its config"):
        api.load(run)


@pytest.mark.parametrize("key, value, message", [
    ("width", 100_000, "would need"), ("z_dim", 1_000_000, "does not fit its config"),
    ("z_dim", 10**9, r"generator\.z_dim must be in"),
])
def test_config_sizes_are_checked_before_building(run, no_model_built, key, value, message):
    _edit_json(run / "config.json", lambda c: c["generator"].update({key: value}))
    with pytest.raises(GanforgeError, match=message):
        api.load(run)


@pytest.mark.parametrize("recipe, sets, model", [
    # its small auto-encoder's bottleneck (the paper's decoder as G: the recipe's G has batch norm too)
    ("began", ["train.batch_size=1", "generator.name=began"], "discriminator"),
    ("infogan", ["train.batch_size=1"], "generator"),     # the authors' dense layers
    ("dcgan", ["train.batch_size=4", "discriminator.pack=4", "discriminator.dense=16"], "discriminator"),
])
def test_batch_norm_over_a_batch_of_one_is_refused_before_training(capsys, tmp_path, recipe, sets, model):
    """A BatchNorm1d has nothing to normalise over in a batch of one (packing m samples into one
    shrinks D's batch m times): one line before the run directory exists, not a traceback at step 1."""
    argv = ["train", "--recipe", recipe, "--out", str(tmp_path / "run"), "--set", "train.steps=1"]
    for s in sets:
        argv += ["--set", s]
    err = _one_line_error(capsys, argv)
    assert f"the {model} has batch norm" in err and "train.batch_size" in err
    assert not any((tmp_path / "run").glob("*"))  # nothing written: the same --out can be used again


def test_batch_norm_check_passes_batches_of_two(tmp_path):
    cfg = resolve("began", ["train.batch_size=2", "train.steps=1", "train.progress=false", "train.threads=1"])
    run = api.train(cfg, out=tmp_path / "run")
    assert [r["step"] for r in read_metrics(run / "metrics.jsonl") if "step" in r] == [1]


def test_image_size_beyond_the_limit_is_refused_before_loading_data(capsys, tmp_path, monkeypatch):
    import ganforge.run as run_module
    monkeypatch.setattr(run_module, "load_dataset", lambda *a, **k: pytest.fail("data was loaded"))
    err = _one_line_error(capsys, ["train", "--out", str(tmp_path / "r"), "--set", "data.image_size=4096"])
    assert "data.image_size" in err


def test_data_beyond_the_memory_budget_is_refused_with_what_it_would_need(monkeypatch):
    monkeypatch.setenv(limits.BUDGET_ENV, "20MiB")
    with pytest.raises(ConfigError, match=r"1797 images .* at 256x256 would need 112\.3 MiB"):
        load_dataset("digits", image_size=256)


def test_samples_beyond_the_memory_budget_are_refused(run, monkeypatch):
    g = api.load(run)
    monkeypatch.setenv(limits.BUDGET_ENV, "1MiB")
    with pytest.raises(ConfigError, match="100000 samples of shape"):
        g.sample(100_000)


def test_training_models_beyond_the_memory_budget_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(limits.BUDGET_ENV, "64MiB")
    with pytest.raises(ConfigError, match=r"training dcgan G \(.*would need"):
        train(tmp_path, "big", "train.steps=1", "generator.width=2048")


def test_safetensors_header_shapes_match_the_tensors(run):
    path = _newest(run) / ckpt.WEIGHTS
    shapes = safe_files.safetensors_shapes(path, 1 << 30)
    assert shapes == {k: tuple(v.shape) for k, v in load_file(str(path)).items()}
    data = bytearray(path.read_bytes())
    data[:8] = (len(data) * 2).to_bytes(8, "little")  # a header longer than the file
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="header"):
        safe_files.safetensors_shapes(path, 1 << 30)


# ---------------------------------------------------------------- 3. files read from a run

@pytest.mark.parametrize("name", [ckpt.WEIGHTS, ckpt.STATE, ckpt.META])
def test_run_files_linked_to_dev_zero_are_refused_not_read(run, deadline, name):
    for folder in ckpt.checkpoint_dirs(run):
        (folder / name).unlink()
        (folder / name).symlink_to("/dev/zero")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CheckpointError, match="no (readable )?checkpoint"):
            api.load(run)
    if name != ckpt.META:  # without a regular meta.json the folder is no checkpoint at all
        assert any("links outside the run" in str(w.message) for w in caught)


def test_a_fifo_is_refused_without_blocking(run, deadline):
    path = _newest(run) / ckpt.WEIGHTS
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(CheckpointError, match="not a regular file"):
        ckpt.verify(_newest(run))


def test_a_file_over_its_size_limit_is_refused(run):
    (run / "config.json").write_text(" " * (safe_files.MAX_JSON + 1) + "{}")
    with pytest.raises(CheckpointError, match="config.json is .* over the"):
        api.load(run)


def test_a_checkpoint_folder_linking_outside_the_run_is_refused(run, tmp_path):
    newest = _newest(run)
    outside = tmp_path / "elsewhere"
    shutil.move(newest, outside)
    newest.symlink_to(outside, target_is_directory=True)
    with pytest.warns(UserWarning, match="links outside the run directory"):
        g = api.load(run)
    assert g.step == 2  # the previous checkpoint, inside the run


def test_a_config_linking_outside_the_run_is_refused(run, tmp_path):
    outside = tmp_path / "config.json"
    shutil.move(run / "config.json", outside)
    (run / "config.json").symlink_to(outside)
    with pytest.raises(CheckpointError, match="links outside the run directory"):
        api.load(run)


def test_pruning_removes_links_and_never_their_targets(run, tmp_path):
    target = tmp_path / "kept-by-the-user"
    shutil.copytree(ckpt.checkpoint_dirs(run)[0], target)
    before = sorted(p.name for p in target.iterdir())
    root = checkpoints_dir(run)
    (root / "step-00000001").symlink_to(target, target_is_directory=True)  # oldest: pruned
    (root / ".del-step-00000000-1").symlink_to(target, target_is_directory=True)  # a leftover
    ckpt._prune(root, keep=1)
    assert [p.name for p in root.iterdir()] == [_newest(run).name]
    assert sorted(p.name for p in target.iterdir()) == before


def test_an_eval_log_linking_outside_the_run_is_not_written_through(run, tmp_path):
    outside = tmp_path / "victim.txt"
    outside.write_text("precious\n")
    (run / "eval.jsonl").symlink_to(outside)
    with pytest.raises(CheckpointError, match="links outside"):
        append_jsonl(run / "eval.jsonl", {"step": 1})
    assert outside.read_text() == "precious\n"


def test_a_very_long_run_path_is_one_line(capsys):
    err = _one_line_error(capsys, ["sample", "r" * 5000])
    assert "too long" in err


# ---------------------------------------------------------------- 4. malformed run files

@pytest.mark.parametrize("content, message", [
    (b"[]", "holds a JSON list"),
    (b'{"train": null}', "section 'train' must be a table"),
    (b'{"train": {"steps": "x"}}', "train.steps"),
    (b'{"train": {"device": null}}', "train.device"),
    (b'{"generator": {"name": "dcgan", "width": [1]}}', "generator.width"),
    (b"\xff{}", "not UTF-8"),
    (b"[" * 100_000, "nested too deeply|not valid JSON"),
])
def test_malformed_config_json_is_one_line_naming_it(run, capsys, content, message):
    (run / "config.json").write_bytes(content)
    err = _one_line_error(capsys, ["sample", str(run)])
    assert "config.json" in err
    with pytest.raises(CheckpointError, match=message):
        api.load(run)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.update(step="x"), "'step' must be"),
    (lambda m: m.update(data_shape="abc"), "'data_shape' must be"),
    (lambda m: m.update(data_shape=[1, 0, 16]), "'data_shape' must be"),
    (lambda m: m.update(num_classes=-1), "'num_classes' must be"),
    (lambda m: m.update(sha256=[]), "'sha256' must be"),
])
def test_malformed_meta_json_is_one_line_naming_it(run, edit, message):
    _edit_json(_newest(run) / ckpt.META, edit)
    with pytest.raises(CheckpointError, match=f"meta.json.*{message}"):
        ckpt.verify(_newest(run))


@pytest.mark.parametrize("bad_line", [b"\xff\xfe", b'{"step": "x"}', b"[]", b'{"no_step": 1}'])
def test_resume_with_a_corrupt_metrics_log_says_so_and_offers_to_repair(run, capsys, bad_line):
    log = run / "metrics.jsonl"
    good = log.read_bytes()
    log.write_bytes(good + bad_line + b"\n" + b'{"step": 1, "d_loss": 0.5}\n')
    before = log.read_bytes()
    err = _one_line_error(capsys, ["train", "--resume", str(run), "--set", "train.steps=6"])
    assert "metrics.jsonl line" in err and "--repair-log" in err
    assert log.read_bytes() == before  # nothing changed
    assert main(["train", "--resume", str(run), "--set", "train.steps=6", "--repair-log"]) == 0
    assert (run / "metrics.jsonl.bad").read_bytes() == bad_line + b"\n"
    steps = [r["step"] for r in read_metrics(log)]
    assert steps[-1] == 6 and 1 in steps  # the readable records up to the checkpoint are kept


def test_a_line_cut_by_a_crash_is_not_a_corrupt_log(run):
    log = run / "metrics.jsonl"
    log.write_bytes(log.read_bytes() + b'{"step": 5, "d_lo')
    api.resume(run, {"train": {"steps": 6}})
    assert not (run / "metrics.jsonl.bad").exists()


# ---------------------------------------------------------------- 5. the explorer

@pytest.fixture
def app(trained, tmp_path):
    name = 'run "quoted" ünïcode 名前'
    copy = tmp_path / name
    shutil.copytree(trained, copy)
    return server.create_app(server.served_runs([api.load(copy)]), allowed_hosts=["127.0.0.1"]), name


def test_deeply_nested_json_is_a_400_not_a_500(app):
    status, _, body = asgi.request(app[0], "POST", "/api/runs/0/grid", b"[" * 10_000)
    assert status == 400 and b"deeper than" in body
    nested_ok = json.dumps({"count": 2, "codes": {}})
    assert asgi.request(app[0], "POST", "/api/runs/0/grid", nested_ok.encode())[0] == 200


def test_json_depth_counts_brackets_outside_strings_only():
    assert server.json_depth(b'{"a": [[1], {"b": "[[[[\\"[["}]}') == 3
    assert server.json_depth(b"[" * 33) == 33


def test_download_header_names_any_run_in_rfc_6266_form(app):
    status, headers, _ = asgi.request(app[0], "GET", "/api/runs/0/image.png", query="seed=5")
    assert status == 200
    value = headers["content-disposition"]
    fallback = value.split('filename="')[1].split('"')[0]
    assert '"' not in fallback and fallback.isascii()
    encoded = value.split("filename*=UTF-8''")[1]
    assert unquote(encoded) == f"{app[1]}-seed5.png"


def test_a_fifo_among_saved_directions_is_refused_without_blocking(run, deadline):
    folder = run / "directions"
    folder.mkdir()
    os.mkfifo(folder / "stuck.npz")
    with pytest.raises(CheckpointError, match="not a regular file"):
        run_directions(run)


@pytest.mark.parametrize("recipe", recipe_names())
def test_every_recipe_builds_on_the_meta_device_so_its_sizes_are_checked(recipe):
    cfg = resolve(recipe)
    shape = (2,) if recipe.endswith("2d") else (3, cfg.data.image_size, cfg.data.image_size)
    planned = planned_components(cfg, shape, 10)
    assert planned is not None, f"{recipe} cannot be planned on the meta device: its sizes go unchecked"
    assert all(p.device.type == "meta" for p in planned.G.parameters())


def test_a_large_plan_within_the_budget_is_announced_not_made_quietly(monkeypatch):
    monkeypatch.setenv(limits.BUDGET_ENV, "64GiB")
    with pytest.warns(UserWarning, match=r"5000 images .* will take 4\.9 GiB"):
        limits.check_allocation(5000 * 1024 * 1024, "5000 images of mnist at 1024x1024")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        limits.check_allocation(100 << 20, "a small plan")  # no warning
