"""Evaluation end to end: a tiny run, a tiny classifier trained here, the cache and the CLI
(evaluation during training: tests/training/test_evaluation.py)."""
import json

import numpy as np
import pytest
import torch

from ganforge import api
from ganforge.cli import main
from ganforge.config import resolve
from ganforge.data import load_dataset
from ganforge.metrics.classifier import load_classifier
from ganforge.metrics.evaluate import (append_jsonl, evaluate, evaluate_model, generate_uint8,
                                       real_sets, resolve_extractor)
from ganforge.nn.latent import Latent
from tests.conftest import TINY_DCGAN

N = 200


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return api.train(resolve("dcgan", TINY_DCGAN + ["train.steps=2"]), out=tmp_path_factory.mktemp("runs") / "run")


class CountingExtractor:
    """Wraps an extractor and counts the images it is asked to extract."""

    def __init__(self, inner):
        self.inner, self.name, self.key, self.calls = inner, inner.name, inner.key, []

    def extract(self, images, batch_size=64):
        self.calls.append(len(images))
        return self.inner.extract(images, batch_size)


def test_evaluate_reports_metrics_extractor_and_baseline_and_reuses_the_cache(tmp_path, tiny_run, classifier_dir,
                                                                             mnist16):
    g = api.load(tiny_run)
    extractor = CountingExtractor(resolve_extractor(f"classifier:{classifier_dir}", "mnist"))
    first = evaluate(g, mnist16, extractor, n=N, seed=3, cache_dir=tmp_path)
    for key in ("fid", "kid", "kid_std", "is", "is_std", "precision", "recall"):
        assert np.isfinite(first[key]) and np.isfinite(first["baseline"][key]), key
    assert first["extractor"] == extractor.name and first["extractor"].startswith(f"classifier:{classifier_dir}")
    assert first["n"] == N and first["n_real"] == N and first["baseline"]["kind"] == "disjoint"
    # Two steps of training make noise; two halves of the real data are far closer.
    assert first["baseline"]["fid"] < first["fid"] / 10
    assert first["baseline"]["precision"] > first["precision"]
    assert extractor.calls == [N, N, N]  # reference, baseline, generated
    cached = list((tmp_path / "reference").glob("*.npz"))
    assert len(cached) == 1
    with np.load(cached[0], allow_pickle=False) as archive:
        assert archive["reference"].shape[0] == N and archive["baseline"].shape[0] == N

    second = evaluate(g, mnist16, extractor, n=N, seed=3, cache_dir=tmp_path)
    assert extractor.calls[3:] == [N]  # only the generated images: the real side came from the cache
    assert second == first

    evaluate(g, mnist16, extractor, n=N, seed=4, cache_dir=tmp_path)  # another seed, another key
    assert extractor.calls[4:] == [N, N, N] and len(list((tmp_path / "reference").glob("*.npz"))) == 2


def test_real_sets_are_disjoint_when_possible_else_a_same_size_resample():
    ref, base, kind = real_sets(100, 40, seed=0)
    assert kind == "disjoint" and len(ref) == len(base) == 40 and not set(ref) & set(base)
    ref, base, kind = real_sets(100, 70, seed=0)
    assert kind == "bootstrap" and len(ref) == len(base) == 70 and len(set(ref)) == 70
    ref, base, kind = real_sets(100, 500, seed=0)  # n beyond the dataset: all of it
    assert sorted(ref) == list(range(100)) and len(base) == 100


def test_generated_images_are_resized_to_the_dataset_size(tiny_run):
    g = api.load(tiny_run)
    native = generate_uint8(g.G, g.family, 5, 0, "cpu", 16, batch_size=2)
    resized = generate_uint8(g.G, g.family, 5, 0, "cpu", 8, batch_size=2)
    assert native.dtype == torch.uint8 and native.shape == (5, 1, 16, 16) and resized.shape == (5, 1, 8, 8)
    expected = torch.nn.functional.interpolate(native.float(), size=(8, 8), mode="bilinear", antialias=True)
    assert (resized.float() - expected).abs().max() <= 2  # 16->8 of the uint8 image, rounding aside
    assert torch.equal(native, generate_uint8(g.G, g.family, 5, 0, "cpu", 16, batch_size=5))  # batch-invariant


def test_cli_eval_prints_the_extractor_on_every_line_and_appends_eval_jsonl(tmp_path, tiny_run, classifier_dir,
                                                                           capsys):
    args = ["eval", str(tiny_run), "--n", "100", "--metrics", "fid,kid",
            "--extractor", f"classifier:{classifier_dir}", "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(("fid", "kid"))]
    assert len(rows) == 3 and all(f"classifier:{classifier_dir}" in row for row in rows)  # fid, kid, kid_std
    assert "real-vs-real" in out and "disjoint" in out
    assert main(args) == 0
    records = [json.loads(line) for line in (tiny_run / "eval.jsonl").read_text().splitlines()]
    assert len(records) == 2 and records[0]["fid"] == records[1]["fid"]
    assert records[0]["extractor"].startswith(f"classifier:{classifier_dir}") and records[0]["n"] == 100
    assert records[0]["step"] == 2 and "fid" in records[0]["baseline"]


def test_cli_eval_without_a_classifier_says_how_to_train_one(tmp_path, tiny_run, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no classifiers/ here
    assert main(["eval", str(tiny_run), "--n", "50"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "classifiers/mnist" in err and "ganforge classifier train --data mnist" in err


def test_cli_classifier_train_saves_a_loadable_classifier(tmp_path, capsys):
    out = tmp_path / "digits-clf"
    assert main(["classifier", "train", "--data", "digits", "--image-size", "8", "--epochs", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    model, meta = load_classifier(out)
    assert f"held-out accuracy {meta['held_out_accuracy']:.4f}" in printed
    assert meta["source"] == "digits" and meta["epochs"] == 1 and model.image_size == 8


class _ModeFamily:
    """Latents that name a mode; the 'generator' puts each sample exactly on its mode."""

    def __init__(self, modes, used):
        self.modes, self.used = modes, used

    def sample_latent(self, n, z_dim, device, generator, labels=None):
        return Latent(torch.arange(n, dtype=torch.float32)[:, None])

    def generate(self, G, latent):
        return self.modes[latent.z[:, 0].long() % self.used]


def test_point_datasets_are_scored_by_mode_coverage():
    ring = load_dataset("ring8", toy_samples=10)
    G = torch.nn.Module()
    G.noise_dim = 1
    for used in (8, 3):
        result = evaluate_model(G, _ModeFamily(ring.modes, used), "cpu", ring, None, n=2400, seed=0)
        assert result["modes"] == used and result["num_modes"] == 8 and result["high_quality"] == 1.0
        assert result["extractor"] == "mode-coverage-2d" and result["n"] == 2400
        assert abs(result["reverse_kl"] - np.log(8 / used)) < 1e-12  # even over `used` of 8 modes


def test_eval_log_lines_are_strict_json_with_undefined_values_as_null(tmp_path):
    path = tmp_path / "eval.jsonl"
    append_jsonl(path, {"fid": float("nan"), "baseline": {"kid": float("inf")}, "n": 10})
    append_jsonl(path, {"fid": 1.5})
    reject = lambda token: pytest.fail(f"non-standard JSON token {token}")
    records = [json.loads(line, parse_constant=reject) for line in path.read_text().splitlines()]
    assert records == [{"fid": None, "baseline": {"kid": None}, "n": 10}, {"fid": 1.5}]


def test_fid_alone_streams_batches_into_running_sums_with_the_same_result(tmp_path, tiny_run, classifier_dir,
                                                                         mnist16):
    g = api.load(tiny_run)
    extractor = CountingExtractor(resolve_extractor(f"classifier:{classifier_dir}", "mnist"))
    alone = evaluate(g, mnist16, extractor, metrics=("fid",), n=N, seed=3, cache_dir=tmp_path, batch_size=64)
    assert extractor.calls[-4:] == [64, 64, 64, 8]  # generated and extracted batch by batch
    with_kid = evaluate(g, mnist16, extractor, metrics=("fid", "kid"), n=N, seed=3, cache_dir=tmp_path,
                        batch_size=64)
    assert set(alone) - {"baseline"} == {"fid", "extractor", "n", "n_real", "seed"}
    assert alone["fid"] == pytest.approx(with_kid["fid"], rel=1e-10)
