import numpy as np
import pytest

from ganforge.errors import ConfigError, DataError
from ganforge.metrics.inception_score import inception_score


def test_uniform_predictions_score_one():
    mean, std = inception_score(np.full((100, 7), 1 / 7))
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_confident_even_predictions_over_k_classes_score_k():
    k, splits = 12, 10
    labels = np.tile(np.arange(k), 3 * splits)  # every split holds each class 3 times
    mean, std = inception_score(np.eye(k)[labels], splits=splits)
    assert mean == pytest.approx(k, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_two_class_hand_computation():
    probs = np.array([[0.9, 0.1], [0.1, 0.9]])
    expected = np.exp(0.9 * np.log(1.8) + 0.1 * np.log(0.2))
    assert inception_score(probs, splits=1)[0] == pytest.approx(expected, rel=1e-12)


def test_splits_cover_all_samples_and_give_spread():
    # Split 1 is confident and even (score 2), split 2 uniform (score 1).
    probs = np.vstack([np.eye(2)[[0, 1, 0, 1]], np.full((4, 2), 0.5)])
    mean, std = inception_score(probs, splits=2)
    assert mean == pytest.approx(1.5, rel=1e-12)
    assert std == pytest.approx(0.5, rel=1e-12)


def test_logits_and_bad_splits_are_refused():
    with pytest.raises(DataError, match="not logits"):
        inception_score(np.random.default_rng(0).normal(size=(20, 5)))
    with pytest.raises(ConfigError, match="splits"):
        inception_score(np.full((5, 2), 0.5), splits=10)
