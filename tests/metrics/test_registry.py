import numpy as np
import pytest

from ganforge.errors import ConfigError
from ganforge.metrics import fid_from_features, inception_score, kid, precision_recall
from ganforge.metrics.registry import METRICS, compute_metrics


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10), size=200)
    return rng.normal(size=(200, 8)), rng.normal(size=(200, 8)) + 0.2, probs


def test_every_name_gives_named_numbers(features):
    expected_keys = {"fid": {"fid"}, "kid": {"kid", "kid_std"}, "is": {"is", "is_std"},
                     "pr": {"precision", "recall"}, "dc": {"density", "coverage"},
                     "acc": {"acc"} | {f"acc_{c}" for c in range(10)}}
    conditions = {"labels": np.arange(200) % 10}  # what the fake samples were asked to be
    for name, metric in METRICS.items():
        result = metric(*features, conditions)
        assert set(result) == expected_keys[name]
        assert all(isinstance(value, float) for value in result.values())


def test_compute_metrics_equals_direct_calls(features):
    real, fake, probs = features
    result = compute_metrics(["fid", "kid", "is", "pr"], real, fake, probs)
    assert result["fid"] == fid_from_features(real, fake)
    assert (result["kid"], result["kid_std"]) == kid(real, fake)
    assert (result["is"], result["is_std"]) == inception_score(probs)
    assert (result["precision"], result["recall"]) == precision_recall(real, fake)


def test_unknown_metric_is_a_config_error(features):
    with pytest.raises(ConfigError, match="unknown metric.*fdi"):
        compute_metrics(["fid", "fdi"], *features)
