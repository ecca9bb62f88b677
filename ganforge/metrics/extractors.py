"""Feature extractors by name: the Inception port ("inception") or a domain classifier
("classifier:PATH"). Each turns uint8 images into float64 features and class probabilities and
says what it is (`name`, printed beside every number) and what its features depend on (`key`,
for caching reference statistics)."""

import hashlib
import json
import os

import numpy as np
import torch

from ganforge.errors import ConfigError, DataError
from ganforge.metrics.classifier import DigitClassifier, load_classifier, to_classifier_input
from ganforge.metrics.inception import (INCEPTION_SHA256, INPUT_SIZE, FIDInceptionV3, load_inception,
                                        require_weights_path)
from ganforge.metrics.resize import resize_bilinear_tf1
from ganforge.nn.inference import inference_copy

WEIGHTS_ENV = "GANFORGE_INCEPTION_WEIGHTS"


class FeatureExtractor:
    """Runs a network over uint8 images in batches; subclasses say how one batch is computed.
    It runs a copy of the network prepared for inference (BatchNorm folded, channels-last; see
    ganforge.nn.inference): the same features to float rounding, in less time."""

    name: str
    key: str
    num_classes: int | None = None  # classes of the data its probabilities name; None: not the data's

    def __init__(self, network: torch.nn.Module, device="cpu"):
        self.device = torch.device(device)
        self.network = inference_copy(network.eval()).to(self.device)

    def extract(self, images_uint8: torch.Tensor, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """(features float64 [N, D], class probabilities float64 [N, K]) for images [N, C, H, W]."""
        if not isinstance(images_uint8, torch.Tensor) or images_uint8.dtype != torch.uint8 or images_uint8.ndim != 4:
            got = (f"{images_uint8.dtype} {tuple(images_uint8.shape)}" if isinstance(images_uint8, torch.Tensor)
                   else type(images_uint8).__name__)
            raise DataError(f"feature extraction needs a uint8 tensor [N, C, H, W], got {got}")
        if len(images_uint8) == 0:
            raise DataError("feature extraction got no images")
        features, probs = [], []
        with torch.inference_mode():
            for batch in images_uint8.split(batch_size):
                batch_features, logits = self._forward(batch.to(self.device))
                features.append(batch_features.double().cpu().numpy())
                probs.append(torch.softmax(logits.double(), dim=1).cpu().numpy())
        return np.concatenate(features), np.concatenate(probs)

    def _forward(self, batch_uint8: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


def inception_input(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 1 or 3, H, W] -> float [N, 3, 299, 299] in [-1, 1], resized like the TF graph."""
    if images_uint8.shape[1] not in (1, 3):
        raise DataError(f"the Inception network takes 1- or 3-channel images, got {images_uint8.shape[1]} channels")
    x = images_uint8.float().expand(-1, 3, -1, -1)
    return resize_bilinear_tf1(x, (INPUT_SIZE, INPUT_SIZE)) / 255.0 * 2.0 - 1.0


class InceptionExtractor(FeatureExtractor):
    """2048-d pool3 features and the softmax of the 1008 bias-free logits (for the Inception Score)."""

    name = "inception-v3-pool3"

    def __init__(self, network: FIDInceptionV3, weights_sha256: str, device="cpu"):
        super().__init__(network, device)
        self.key = f"{self.name}/tf1-bilinear-299/sha256:{weights_sha256}"

    def _forward(self, batch_uint8):
        return self.network(inception_input(batch_uint8).contiguous(memory_format=torch.channels_last))


class ClassifierExtractor(FeatureExtractor):
    """Penultimate activations and softmax of a DigitClassifier."""

    def __init__(self, model: DigitClassifier, meta: dict | None = None, source: str = "in-memory", device="cpu"):
        super().__init__(model, device)
        self.num_classes = model.num_classes
        accuracy = (meta or {}).get("held_out_accuracy")
        self.name = f"classifier:{source}" + (f" (acc {accuracy:.3f})" if accuracy is not None else "")
        self.key = f"classifier/minus1to1-bilinear/sha256:{_module_digest(model)}"

    def _forward(self, batch_uint8):
        model = self.network
        x = to_classifier_input(batch_uint8, model.channels, model.image_size)
        return model.features_and_logits(x.contiguous(memory_format=torch.channels_last))


def get_extractor(name: str, device="cpu", inception_weights: str | None = None) -> FeatureExtractor:
    """The extractor called `name`: "inception" (weights from `inception_weights` or
    $GANFORGE_INCEPTION_WEIGHTS, checked against the published SHA-256) or "classifier:PATH"
    (a directory written by save_classifier)."""
    if name == "inception":
        path = require_weights_path(inception_weights or os.environ.get(WEIGHTS_ENV))
        network = load_inception(path)  # checks the published SHA-256 first
        return InceptionExtractor(network, INCEPTION_SHA256, device)
    if name.startswith("classifier:"):
        path = name.removeprefix("classifier:")
        model, meta = load_classifier(path)
        return ClassifierExtractor(model, meta, source=path, device=device)
    raise ConfigError(f"unknown feature extractor {name!r}: use 'inception' or 'classifier:PATH'")


def _module_digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's configuration and every tensor in its state dict."""
    digest = hashlib.sha256()
    if hasattr(module, "config"):
        digest.update(json.dumps(module.config(), sort_keys=True).encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()
