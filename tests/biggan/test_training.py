"""The BigGAN recipes end to end at tiny widths; sampling with truncation and standing statistics;
the truncation sweep."""
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from ganforge import api
from ganforge.cli import main
from ganforge.config import resolve
from ganforge.errors import ConfigError
from ganforge.explore.truncation_sweep import (format_table, parse_thresholds, plot_truncation_curve,
                                               truncation_sweep)
from ganforge.metrics import DigitClassifier, save_classifier
from ganforge.training import checkpoint as ckpt

QUIET = ["train.progress=false", "train.log_every=2", "train.sample_every=4", "train.ckpt_every=4",
         "train.grid_size=20"]
TINY_MNIST = QUIET + [
    "data.image_size=16", "generator.width=8", "generator.multipliers=[2,2,1]", "generator.z_dim=12",
    "generator.attention_resolution=8", "discriminator.width=8", "discriminator.multipliers=[1,2,2]",
    "discriminator.attention_resolution=8", "train.batch_size=8", "train.ema_start_step=2",
]


def _log(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _weights(run):
    return load_file(str(ckpt.checkpoint_dirs(run)[-1] / ckpt.WEIGHTS))


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("biggan") / "mnist"
    return api.train(resolve("biggan-mnist", TINY_MNIST + ["train.steps=4"]), out=out)


def test_biggan_mnist_trains_a_few_steps(mnist_run):
    log = _log(mnist_run)
    assert [r["step"] for r in log] == [2, 4] and log[-1]["images_seen"] == 4 * 8  # one D step
    for key in ("d_loss", "g_loss", "g_ortho", "d_real", "d_fake"):
        assert all(math.isfinite(r[key]) for r in log), key
    assert all(r["g_ortho"] > 0 for r in log)
    w = _weights(mnist_run)
    assert "G.shared.weight" in w and "D.projection.parametrizations.weight.original" in w
    # The EMA copy exists and, after its start step, lags behind G.
    key = "G.blocks.0.conv1.parametrizations.weight.original"
    assert ("G_ema." + key[2:]) in w and not torch.equal(w[key], w["G_ema." + key[2:]])
    assert (mnist_run / "samples" / "step-00000004.png").is_file()


def _labelled_npz(path, size, n=16, classes=4):
    rng = np.random.default_rng(0)
    np.savez(path, images=rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8),
             labels=np.arange(n) % classes)
    return path


@pytest.mark.parametrize("recipe, size, sets, d_steps, accumulate", [
    ("biggan-cifar", 32, ["generator.width=4", "discriminator.width=4"], 4, 1),
    # The 128x128 table at width 4 / 8; attention moves to 32x32 because 64x64 attention is slow
    # on a CPU (test_models checks it at 64x64).
    ("biggan-128", 128, ["generator.width=4", "discriminator.width=8", "train.accumulate=2",
                         "generator.attention_resolution=32", "discriminator.attention_resolution=32",
                         "train.grid_size=4"], 2, 2),
])
def test_paper_recipes_run_at_tiny_width(tmp_path, recipe, size, sets, d_steps, accumulate):
    data = _labelled_npz(tmp_path / "data.npz", size)
    cfg = resolve(recipe, QUIET + sets + [f"data.source={data}", "train.batch_size=2", "train.steps=2"])
    run = api.train(cfg, out=tmp_path / "run")
    log = _log(run)
    assert log[-1]["step"] == 2 and log[-1]["images_seen"] == 2 * d_steps * accumulate * 2
    assert math.isfinite(log[-1]["d_loss"]) and log[-1]["g_ortho"] > 0
    g = api.load(run)
    x = g.sample(3, labels=[0, 1, 3], truncation=0.5)
    assert x.shape == (3, 3, size, size) and x.abs().max() <= 1


def _captured_latents(g, **sample_kw):
    seen = []
    hook = g.G.register_forward_pre_hook(lambda m, args: seen.append((args[0].clone(), args[1].clone())))
    samples = g.sample(**sample_kw)
    hook.remove()
    return samples, torch.cat([z for z, _ in seen]), torch.cat([y for _, y in seen])


def test_sampling_with_truncation_draws_truncated_latents(mnist_run):
    g = api.load(mnist_run)
    a = 0.5
    samples, z, labels = _captured_latents(g, n=2000, seed=3, labels=[7] * 2000, truncation=a)
    assert z.shape == (2000, 12) and (labels == 7).all()
    assert z.abs().max() <= a and (z.abs() == a).sum() == 0  # resampled, not clipped
    # Variance of N(0, 1) truncated to [-a, a]: 1 - 2 a phi(a) / (2 Phi(a) - 1) = 0.0806 at 0.5
    # (a rescaled sample would not match it; the entries are 24,000 draws).
    phi, mass = math.exp(-a * a / 2) / math.sqrt(2 * math.pi), math.erf(a / math.sqrt(2))
    assert z.var().item() == pytest.approx(1 - 2 * a * phi / mass, rel=0.02)
    plain, z_plain, _ = _captured_latents(g, n=2000, seed=3, labels=[7] * 2000)
    assert z_plain.abs().max() > 3 and not torch.equal(samples, plain)


def test_cli_sample_with_standing_stats(mnist_run, tmp_path):
    def run(name, *extra):
        out = tmp_path / f"{name}.npz"
        assert main(["sample", str(mnist_run), "-n", "12", "--format", "npz", "--out", str(out),
                     "--truncation", "0.7", *extra]) == 0
        return np.load(out)["samples"]
    plain, again, standing = run("a"), run("b"), run("c", "--standing-stats", "2")
    assert np.array_equal(plain, again) and not np.array_equal(plain, standing)


@pytest.fixture()
def classifier_dir(tmp_path):
    torch.manual_seed(0)
    return save_classifier(DigitClassifier(channels=1, image_size=16), {}, tmp_path / "clf")


# An untrained classifier has dead ReLU features, so its feature covariance is singular.
@pytest.mark.filterwarnings("ignore:Matrix is singular")
def test_truncation_sweep_cli(mnist_run, tmp_path, classifier_dir, capsys):
    out = tmp_path / "sweep.png"
    assert main(["truncation-sweep", str(mnist_run), "--values", "0.5,none", "-n", "300",
                 "--extractor", f"classifier:{classifier_dir}", "--out", str(out)]) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    assert [r["truncation"] for r in record["rows"]] == [0.5, None]
    for row in record["rows"]:
        assert row["fid"] > 0 and 1 <= row["is"] <= 10 and 0 <= row["accuracy"] <= 1
    assert record["extractor"].startswith("classifier:") and record["n"] == 300
    assert Image.open(out).size == (3 * 420, 350)  # fid, is, accuracy panels of 4.2 x 3.1 in, a title
    printed = capsys.readouterr().out
    assert "| truncation | fid | is | accuracy |" in printed and "| none |" in printed


def test_sweep_scores_the_same_latents_at_each_threshold(mnist_run):
    g = api.load(mnist_run)
    calls = []

    def score(images, labels):
        calls.append((images, labels))
        return {"mean": float(images.float().mean())}

    rows = truncation_sweep(g, [0.3, 1.0, None], score, n=30, seed=4)
    assert [r["truncation"] for r in rows] == [0.3, 1.0, None]
    for images, labels in calls:
        assert images.dtype == torch.uint8 and images.shape == (30, 1, 16, 16)
        assert torch.bincount(labels).tolist() == [3] * 10  # balanced classes
    expected = [api.load(mnist_run).sample(30, seed=4, labels=calls[0][1], truncation=t) for t in (0.3, 1.0, None)]
    from ganforge.images import to_uint8
    for (images, _), x in zip(calls, expected):
        assert torch.equal(images, to_uint8(x))


def test_parse_thresholds_and_table(tmp_path):
    assert parse_thresholds("0.5, 1,none") == [0.5, 1.0, None]
    for bad in ("0", "-1", "abc", ""):
        with pytest.raises(ConfigError):
            parse_thresholds(bad)
    rows = [{"truncation": None, "fid": 3.0}, {"truncation": 0.5, "fid": 5.25}]
    assert format_table(rows, "clf").splitlines()[:4] == [
        "| truncation | fid |", "|---|---|", "| none | 3 |", "| 0.5 | 5.25 |"]
    path = plot_truncation_curve(rows, tmp_path / "p.png")
    assert Image.open(path).format == "PNG"
    # A score that could not be computed (NaN) leaves a gap instead of failing the plot.
    rows.append({"truncation": 0.25, "fid": float("nan")})
    assert Image.open(plot_truncation_curve(rows, tmp_path / "q.png")).format == "PNG"
