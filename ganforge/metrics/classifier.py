"""A small LeNet-style classifier (LeCun et al. 1998) trained on the domain's own labelled images,
for FID/KID/IS-style numbers where Inception features do not fit (digits); Binkowski et al. 2018 use
LeNet features the same way. Features are the penultimate activations, probabilities the softmax.

Saved as a directory holding safetensors weights and a JSON file of metadata, so loading one never
unpickles anything."""

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save
from torch import nn

from ganforge.errors import CheckpointError, ConfigError, DataError
from ganforge.io import atomic_write_bytes, atomic_write_json

WEIGHTS_FILE = "weights.safetensors"
META_FILE = "classifier.json"
FORMAT = "ganforge-classifier/1"


class DigitClassifier(nn.Module):
    """conv5x5-ReLU-maxpool, conv5x5-ReLU-maxpool, fc-ReLU (the features), fc (the logits).
    Takes images in [-1, 1] at `image_size` x `image_size`."""

    def __init__(self, channels: int = 1, image_size: int = 28, num_classes: int = 10,
                 width: int = 16, hidden: int = 128):
        super().__init__()
        self.channels, self.image_size, self.num_classes = channels, image_size, num_classes
        self.width, self.hidden = width, hidden
        self.conv1 = nn.Conv2d(channels, width, 5, padding=2)
        self.conv2 = nn.Conv2d(width, 2 * width, 5, padding=2)
        spatial = image_size // 2 // 2
        self.fc1 = nn.Linear(2 * width * spatial * spatial, hidden)
        self.dropout = nn.Dropout(0.3)
        self.fc2 = nn.Linear(hidden, num_classes)

    def config(self) -> dict:
        """Everything needed to rebuild the network before loading its weights."""
        return {"channels": self.channels, "image_size": self.image_size, "num_classes": self.num_classes,
                "width": self.width, "hidden": self.hidden}

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        features = F.relu(self.fc1(x.flatten(1)))
        return features, self.fc2(self.dropout(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(x)[1]


def to_classifier_input(images_uint8: torch.Tensor, channels: int, image_size: int) -> torch.Tensor:
    """uint8 images [N, C, H, W] -> float in [-1, 1] with the classifier's channels and size."""
    if images_uint8.dtype != torch.uint8 or images_uint8.ndim != 4:
        raise DataError(f"classifier input must be uint8 images [N, C, H, W], got {images_uint8.dtype} "
                        f"{tuple(images_uint8.shape)}")
    x = images_uint8.float() / 127.5 - 1.0
    if x.shape[1] != channels:
        if x.shape[1] == 1:
            x = x.expand(-1, channels, -1, -1)
        else:
            raise DataError(f"the classifier takes {channels}-channel images, got {x.shape[1]} channels")
    if x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False,
                          antialias=x.shape[-1] > image_size)
    return x


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by its own random offset in [-max_shift, max_shift] pixels, filling
    the border with the edge pixels (the background, for digits)."""
    if max_shift == 0:
        return x
    height, width = x.shape[-2:]
    padded = F.pad(x, (max_shift,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * max_shift + 1, (len(x), 2), generator=generator).tolist()
    return torch.stack([image[:, dy:dy + height, dx:dx + width] for image, (dy, dx) in zip(padded, offsets)])


def train_classifier(dataset, epochs: int = 15, seed: int = 0, holdout: float = 0.1,
                     batch_size: int = 64, lr: float = 1e-3, max_shift: int = 2) -> tuple[DigitClassifier, float]:
    """Train on a random (1 - holdout) share of `dataset` (anything with uint8 `images` [N, C, H, W],
    int64 `labels` [N] and `num_classes`, e.g. ganforge.data.ImageDataset) with Adam, a one-cycle
    learning rate and random shifts; returns the model in eval mode and its held-out accuracy."""
    if dataset.labels is None:
        raise DataError("training the classifier needs a labelled dataset; this one has no labels")
    images, labels = torch.as_tensor(dataset.images), torch.as_tensor(dataset.labels).long()
    held, train = holdout_split(len(images), holdout, seed)
    channels, size = images.shape[1], images.shape[-1]

    generator = torch.Generator().manual_seed(seed)  # batch order and shifts
    # Initialisation and dropout draw from the global RNG: seed it here and restore it afterwards.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitClassifier(channels, size, int(dataset.num_classes))
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        steps = epochs * -(-len(train) // batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
        model.train()
        for _ in range(epochs):
            for batch in train[torch.randperm(len(train), generator=generator)].split(batch_size):
                # Map each batch on the fly: the uint8 set is 4x smaller than its float copy.
                x = random_shift(to_classifier_input(images[batch], channels, size), max_shift, generator)
                loss = F.cross_entropy(model(x), labels[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
    model.eval()
    return model, accuracy(model, images[held], labels[held])


def holdout_split(n: int, holdout: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(held-out indices, training indices) of a seeded random permutation of range(n)."""
    if not 0.0 < holdout < 1.0:
        raise ConfigError(f"holdout must be a fraction in (0, 1), got {holdout}")
    n_held = max(1, round(holdout * n))
    if n_held >= n:
        raise DataError(f"a dataset of {n} images is too small to hold out {holdout:.0%} of it")
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    return order[:n_held], order[n_held:]


@torch.inference_mode()
def accuracy(model: DigitClassifier, images_uint8: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Share of uint8 images the model classifies correctly."""
    correct = 0
    for x, y in zip(images_uint8.split(batch_size), labels.split(batch_size)):
        logits = model(to_classifier_input(x, model.channels, model.image_size))
        correct += int((logits.argmax(1) == y).sum())
    return correct / len(images_uint8)


def save_classifier(model: DigitClassifier, meta: dict, path) -> Path:
    """Write `path`/weights.safetensors and `path`/classifier.json (architecture plus `meta`, e.g.
    {"held_out_accuracy": 0.98, "dataset": "mnist-5k"}); each file is replaced atomically."""
    path = Path(path)
    record = {"format": FORMAT, "architecture": model.config(), **meta}
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    atomic_write_bytes(path / WEIGHTS_FILE, save(state))
    atomic_write_json(path / META_FILE, record)
    return path


def load_classifier(path) -> tuple[DigitClassifier, dict]:
    """The model (eval mode) and its metadata from a directory written by save_classifier."""
    path = Path(path)
    weights, meta_file = path / WEIGHTS_FILE, path / META_FILE
    if not weights.is_file() or not meta_file.is_file():
        raise CheckpointError(f"no classifier at {path}: expected {WEIGHTS_FILE} and {META_FILE} there")
    try:
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"format is {meta.get('format')!r}, expected {FORMAT!r}")
        model = DigitClassifier(**meta["architecture"])
        model.load_state_dict(load_file(weights), strict=True)
    except Exception as error:  # malformed JSON, unknown architecture keys, mismatched tensors
        raise CheckpointError(f"cannot load classifier {path}: {_first_line(error)}") from error
    return model.eval(), meta


def _first_line(error: Exception) -> str:
    # Library errors can run to a page of advice; the user needs the reason.
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
