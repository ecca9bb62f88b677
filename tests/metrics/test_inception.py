import copy
import hashlib

import numpy as np
import pytest
import torch

from ganforge.errors import CheckpointError, GanforgeError
from ganforge.metrics.extractors import WEIGHTS_ENV, InceptionExtractor, get_extractor, inception_input
from ganforge.metrics.inception import (INCEPTION_SHA256, FIDInceptionV3, avg_pool_3x3, load_inception,
                                        max_pool_3x3)

# A sample of the state-dict keys of pt_inception-2015-12-05-6726825d.pth.
PUBLISHED_KEYS = [
    "Conv2d_1a_3x3.conv.weight", "Conv2d_1a_3x3.bn.weight", "Conv2d_1a_3x3.bn.bias",
    "Conv2d_1a_3x3.bn.running_mean", "Conv2d_1a_3x3.bn.running_var",
    "Conv2d_2a_3x3.conv.weight", "Conv2d_2b_3x3.conv.weight", "Conv2d_3b_1x1.conv.weight",
    "Conv2d_4a_3x3.conv.weight",
    "Mixed_5b.branch1x1.conv.weight", "Mixed_5b.branch5x5_1.conv.weight", "Mixed_5b.branch5x5_2.conv.weight",
    "Mixed_5b.branch3x3dbl_3.bn.running_var", "Mixed_5b.branch_pool.conv.weight",
    "Mixed_6a.branch3x3.conv.weight", "Mixed_6a.branch3x3dbl_3.conv.weight",
    "Mixed_6b.branch7x7_1.conv.weight", "Mixed_6e.branch7x7dbl_5.conv.weight",
    "Mixed_7a.branch3x3_2.conv.weight", "Mixed_7a.branch7x7x3_4.conv.weight",
    "Mixed_7b.branch3x3_2a.conv.weight", "Mixed_7b.branch3x3dbl_3b.conv.weight",
    "Mixed_7c.branch_pool.conv.weight", "Mixed_7c.branch_pool.bn.running_mean",
    "fc.weight", "fc.bias",
]
SHAPES = {
    "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3), "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
    "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7), "Mixed_7c.branch1x1.conv.weight": (320, 2048, 1, 1),
    "Mixed_7b.branch3x3dbl_2.conv.weight": (384, 448, 3, 3), "fc.weight": (1008, 2048), "fc.bias": (1008,),
}


@pytest.fixture(scope="module")
def network():
    torch.manual_seed(0)
    return FIDInceptionV3().eval()


@pytest.fixture(scope="module")
def weights_file(network, tmp_path_factory):
    path = tmp_path_factory.mktemp("inception") / "random-inception.pth"
    torch.save(network.state_dict(), path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_parameter_names_and_shapes_follow_the_published_file(network):
    state = network.state_dict()
    assert set(PUBLISHED_KEYS) <= set(state)
    assert not any(key.startswith("AuxLogits") for key in state)
    for key, shape in SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    batch_norms = [m for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(batch_norms) == 94 and all(bn.eps == 0.001 for bn in batch_norms)


def test_fid_pooling_variants(network):
    blocks = [network.Mixed_5b, network.Mixed_5c, network.Mixed_5d, network.Mixed_6b, network.Mixed_6c,
              network.Mixed_6d, network.Mixed_6e, network.Mixed_7b, network.Mixed_7c]
    names = {avg_pool_3x3: "avg", max_pool_3x3: "max"}
    # The TF graph's last block pools with max; all other pooled branches average.
    assert [names[block.pool] for block in blocks] == ["avg"] * 8 + ["max"]
    # Padding left out of the average: a constant image stays constant at the borders too.
    ones = torch.ones(1, 2, 5, 5)
    torch.testing.assert_close(avg_pool_3x3(ones), ones)


def test_load_checks_the_hash_and_restores_the_weights(network, weights_file):
    path, sha256 = weights_file
    loaded = load_inception(path, expected_sha256=sha256)
    assert not loaded.training
    for key, tensor in network.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], tensor), key
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_inception(path)  # the default is the published file's hash
    with pytest.raises(CheckpointError, match="not found"):
        load_inception(path.parent / "missing.pth", expected_sha256=sha256)


def test_wrong_keys_are_refused_even_with_a_matching_hash(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(CheckpointError, match="cannot load"):
        load_inception(path, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest())


class Payload:
    """Stands in for code a malicious pickle would run."""


def test_pickled_objects_are_never_unpickled(tmp_path):
    path = tmp_path / "pickled.pth"
    torch.save({"fc.weight": Payload()}, path)
    with pytest.raises(CheckpointError, match="cannot load Inception weights"):
        load_inception(path, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def test_get_extractor_needs_weights_and_reads_the_env_var(weights_file, monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    with pytest.raises(GanforgeError, match="needs its weights: pass --inception-weights PATH or set "
                                            "GANFORGE_INCEPTION_WEIGHTS; the file is pt_inception-2015-12-05"):
        get_extractor("inception")
    monkeypatch.setenv(WEIGHTS_ENV, str(weights_file[0]))
    with pytest.raises(CheckpointError, match="SHA-256"):  # found via the env var, then checked
        get_extractor("inception")
    assert INCEPTION_SHA256.startswith("6726825d")


def test_input_mapping_and_grayscale():
    gray = torch.tensor([[0, 255], [128, 64]], dtype=torch.uint8)[None, None]
    x = inception_input(gray)
    assert x.shape == (1, 3, 299, 299)
    assert x[0, :, 0, 0].tolist() == [-1.0] * 3 and x.max() == 1.0
    torch.testing.assert_close(x, inception_input(gray.repeat(1, 3, 1, 1)))


def test_extract_gives_pool3_features_and_bias_free_probabilities(network):
    network = copy.deepcopy(network)
    with torch.no_grad():
        network.fc.bias.normal_(0, 5)  # must not reach the probabilities
    extractor = InceptionExtractor(network, weights_sha256="test")
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    features, probs = extractor.extract(images, batch_size=1)
    assert features.shape == (2, 2048) and probs.shape == (2, 1008)
    assert features.dtype == np.float64 and probs.dtype == np.float64
    logits = features @ network.fc.weight.detach().double().numpy().T
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs, expected / expected.sum(1, keepdims=True), rtol=1e-4, atol=1e-9)
    assert extractor.name == "inception-v3-pool3" and "test" in extractor.key
