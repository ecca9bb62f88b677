"""Metric acc: conditional accuracy by class and InfoGAN's code agreement. Constructed cases,
evaluate_model with generators whose classes are known, and `ganforge eval --metrics acc` on tiny
trained runs."""
import json

import numpy as np
import pytest
import torch

from ganforge import api
from ganforge.cli import main
from ganforge.config import resolve
from ganforge.data.dataset import ImageDataset
from ganforge.errors import GanforgeError
from ganforge.metrics.classifier import save_classifier, train_classifier
from ganforge.metrics.conditional import accuracy_by_class, code_agreement
from ganforge.metrics.evaluate import evaluate_model
from ganforge.nn.latent import Latent
from tests.conftest import TINY_DCGAN

K = 4
PERMUTATION = [2, 0, 3, 1]  # the class the 'InfoGAN' stub draws for each code value


def test_accuracy_by_class_scores_each_class_on_its_own_samples():
    probs = np.eye(3)[[0, 0, 1, 2, 2, 0]]
    result = accuracy_by_class(probs, [0, 0, 1, 2, 2, 2], 3)
    assert result == pytest.approx({"acc": (1 + 1 + 2 / 3) / 3, "acc_0": 1.0, "acc_1": 1.0, "acc_2": 2 / 3})


def test_code_agreement_finds_the_best_one_to_one_matching():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, K, 400)
    classes = np.array(PERMUTATION)[codes]
    flipped = rng.random(400) < 0.1
    classes[flipped] = (classes[flipped] + 1) % K
    agreement, matching = code_agreement(np.eye(K)[classes], codes, K)
    assert matching == PERMUTATION and agreement == pytest.approx(1 - flipped.mean())
    # Five code values for four classes: one value stays unmatched and its samples count as misses.
    agreement, matching = code_agreement(np.eye(K)[[0, 1, 2, 3, 3]], [0, 1, 2, 3, 4], 5)
    assert sorted(matching) == [-1, 0, 1, 2, 3] and agreement == pytest.approx(0.8)


class Brightness:
    """A 'classifier' of flat images: class = brightness level (0..K-1)."""
    name = key = "brightness"

    def __init__(self, num_classes=K):
        self.num_classes = num_classes

    def extract(self, images, batch_size=64):
        level = (images.double().mean((1, 2, 3)) / 255 * (K - 1)).round().long().numpy()
        return np.eye(K)[level], np.eye(K)[level]


class StubFamily:
    """Draws class c as a flat image of level c, except class 3 drawn as 1 (conditional), or
    the code value c as level PERMUTATION[c] (categorical)."""

    def __init__(self, categorical):
        self.categorical = K if categorical else 0

    def sample_latent(self, n, z_dim, device, generator, labels=None):
        latent = Latent(torch.zeros(n, 1), torch.randint(0, K, (n,), generator=generator))
        if self.categorical:
            latent.codes["cat"] = torch.randint(0, K, (n,), generator=generator)
        return latent

    def generate(self, G, latent):
        if self.categorical:
            level = torch.tensor(PERMUTATION)[latent.codes["cat"]]
        else:
            level = torch.where(latent.labels == 3, 1, latent.labels)
        return (level.float() / (K - 1) * 2 - 1).view(-1, 1, 1, 1).expand(-1, 1, 4, 4)


def stub_generator(conditioning):
    G = torch.nn.Module()
    G.noise_dim, G.num_classes, G.conditioning = 1, K, conditioning
    return G


@pytest.fixture(scope="module")
def flat_digits():
    labels = torch.arange(400) % K
    images = (labels.float() / (K - 1) * 255).round().to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 4, 4)
    return ImageDataset(images.contiguous(), labels, K, "flat")


def test_acc_scores_a_conditional_generator_by_class(flat_digits, tmp_path):
    result = evaluate_model(stub_generator("concat"), StubFamily(False), "cpu", flat_digits, Brightness(),
                            ["acc"], n=200, seed=0, cache_dir=tmp_path)
    assert [result[f"acc_{c}"] for c in range(K)] == [1.0, 1.0, 1.0, 0.0] and result["acc"] == 0.75
    assert result["baseline"]["acc"] == 1.0  # the classifier on real images of each class
    assert "code_agreement" not in result


def test_acc_scores_a_categorical_code_by_its_best_matching(flat_digits, tmp_path):
    result = evaluate_model(stub_generator("none"), StubFamily(True), "cpu", flat_digits, Brightness(),
                            ["acc"], n=200, seed=0, cache_dir=tmp_path)
    assert result["code_agreement"] == 1.0 and result["code_classes"] == PERMUTATION
    assert "acc" not in result and "acc" not in result["baseline"]  # G ignores the labels


def test_acc_is_refused_without_classes_to_check(flat_digits, tmp_path):
    with pytest.raises(GanforgeError, match="neither"):
        evaluate_model(stub_generator("none"), StubFamily(False), "cpu", flat_digits, Brightness(), ["acc"],
                       n=200, cache_dir=tmp_path)
    with pytest.raises(GanforgeError, match="no class probabilities"):
        evaluate_model(stub_generator("concat"), StubFamily(False), "cpu", flat_digits, Brightness(None),
                       ["acc"], n=200, cache_dir=tmp_path)


@pytest.fixture(scope="module")
def digit_classifier(tmp_path_factory, mnist16):
    """A LeNet trained for 3 epochs on 2,000 digits of every class (held-out accuracy 0.85; the
    shared classifier_dir fixture saw the first 600 digits of the sorted set: classes 0 and 1)."""
    pick = torch.randperm(len(mnist16.images), generator=torch.Generator().manual_seed(0))[:2000]
    subset = ImageDataset(mnist16.images[pick].contiguous(), mnist16.labels[pick].contiguous(), 10, "mnist-2000")
    model, accuracy = train_classifier(subset, epochs=3, seed=0, lr=3e-3)
    return save_classifier(model, {"held_out_accuracy": accuracy}, tmp_path_factory.mktemp("clf") / "mnist")


@pytest.mark.parametrize("recipe", ["cgan", "infogan", "dcgan"])
def test_cli_eval_acc(recipe, tmp_path, digit_classifier, capsys):
    run = api.train(resolve(recipe, TINY_DCGAN + ["train.steps=2"]), out=tmp_path / recipe)
    args = ["eval", str(run), "--n", "100", "--metrics", "acc", "--extractor", f"classifier:{digit_classifier}",
            "--cache-dir", str(tmp_path)]
    if recipe == "dcgan":  # unconditional, no categorical code
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "acc" in err and "neither" in err
        return
    assert main(args) == 0
    out = capsys.readouterr().out
    record = json.loads((run / "eval.jsonl").read_text())
    if recipe == "cgan":
        rows = [line.split() for line in out.splitlines() if line.startswith("acc")]
        assert [row[0] for row in rows] == ["acc"] + [f"acc_{c}" for c in range(10)]
        assert float(rows[0][1]) == pytest.approx(record["acc"], abs=1e-5)
        assert record["acc"] == pytest.approx(np.mean([record[f"acc_{c}"] for c in range(10)]))
        assert 0.5 < record["baseline"]["acc"] <= 1.0  # the classifier's accuracy on real digits
    else:
        assert "code_agreement" in out and "categorical code -> class" in out
        assert 0.0 < record["code_agreement"] <= 1.0 and len(record["code_classes"]) == 10
        assert sorted(record["code_classes"]) == list(range(10))
