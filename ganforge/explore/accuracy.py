"""Classification accuracy of a trained semi-supervised GAN's discriminator (SGAN)."""
from __future__ import annotations

from pathlib import Path

import torch

from .. import run
from ..errors import ConfigError, GanforgeError
from ..families.sgan import SGAN, labelled_subset
from ..images import from_uint8
from ..models.base import inference
from ..training import checkpoint as ckpt
from ..training.build import build_components


def classifier_accuracy(D, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Share of `images` (uint8, or floats in [-1, 1]) whose largest class logit from D's "cls"
    head is their label. D is put in eval mode (BatchNorm uses its running statistics)."""
    if len(images) == 0:
        raise GanforgeError("no images to classify")
    device = next(D.parameters()).device
    correct = 0
    with inference(D):
        for x, y in zip(images.split(batch_size), labels.split(batch_size)):
            predicted = SGAN.class_logits(D, from_uint8(x.to(device))).argmax(1).cpu()
            correct += int((predicted == y.cpu()).sum())
    return correct / len(images)


def run_accuracy(run_dir: str | Path, dataset=None, device: str = "cpu") -> float:
    """Classification accuracy of a trained SGAN run's discriminator on `dataset` (anything with
    uint8 `images` and `labels`, e.g. a ganforge.data.ImageDataset of a test split). Without one,
    the run's own data minus its labelled subset: images D saw only without their labels."""
    cfg = run.read_config(run_dir)
    if cfg.family.get("name") != "sgan":
        raise ConfigError(f"{run_dir} is a '{cfg.family.get('name')}' run, not sgan")
    tensors, _, meta, path = ckpt.load_latest(Path(run_dir), with_state=False)
    parts = build_components(cfg, tuple(meta["data_shape"]), int(meta["num_classes"]), cfg.train.seed)
    parts.D.load_state_dict(tensors["D"])
    D = parts.D.to(device)
    if dataset is None:
        dataset = run.dataset(cfg)
        keep = torch.ones(len(dataset.labels), dtype=torch.bool)
        keep[labelled_subset(dataset.labels, parts.family.label_fraction,
                             parts.family.label_seed)] = False
        return classifier_accuracy(D, dataset.images[keep], dataset.labels[keep])
    return classifier_accuracy(D, torch.as_tensor(dataset.images), torch.as_tensor(dataset.labels))
