"""Semi-supervised GAN (Odena 2016; Salimans et al. 2016): the discriminator is a classifier over
the K real classes plus "generated", trained on a small labelled subset and on all data unlabelled.

Formulation (Salimans et al. 2016, section 5): a head on D's body gives K class logits l_1..l_K;
the logit of the fake class is fixed at 0, which loses nothing (a softmax over K + 1 logits is
unchanged by subtracting one of them). P(real | x) = Z / (Z + 1) with Z = sum_k exp(l_k), so the
real/fake logit is logsumexp_k l_k, and any adversarial `loss` applies to it. The supervised term
is the cross-entropy of the K class logits on a labelled batch, i.e. the (K+1)-way likelihood
conditioned on x being real.

The labelled subset is `label_fraction` of the training set, the same share of every class, chosen
by `label_seed`; each D step draws its labelled batch from it with the run's noise stream, so a
resumed run sees the same batches.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import ConfigError, GanforgeError
from .base import Family, Latent, Stats
from ..models.base import inference
from .conditional import require_labels, require_unconditional_discriminator

Tensor = torch.Tensor


def labelled_subset(labels: Tensor, fraction: float, seed: int) -> Tensor:
    """Sorted indices of a class-stratified random subset: round(fraction * n_c), at least one,
    of each class c, drawn with `seed` (the same labels, fraction and seed give the same subset)."""
    labels = labels.cpu()
    gen = torch.Generator().manual_seed(seed)
    chosen = []
    for c in torch.unique(labels):
        members = torch.nonzero(labels == c).squeeze(1)
        take = max(1, round(fraction * len(members)))
        chosen.append(members[torch.randperm(len(members), generator=gen)[:take]])
    return torch.cat(chosen).sort().values


def as_model_input(data: Tensor) -> Tensor:
    """uint8 images -> floats in [-1, 1] as the trainer feeds them; floats pass through."""
    return data.float().div(127.5).sub(1.0) if data.dtype == torch.uint8 else data


@dataclass
class SGAN(Family):
    """Odena 2016 / Salimans et al. 2016. `label_fraction` of the data keeps its labels (0.02 is
    100 of the 5,000 bundled digits, Salimans et al.'s MNIST setting); `supervised_weight` scales
    the labelled cross-entropy against the unsupervised GAN terms."""
    loss: str = "nonsaturating"
    label_fraction: float = 0.02
    label_seed: int = 0
    supervised_weight: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.label_fraction <= 1.0:
            raise ConfigError(f"family.label_fraction must be in (0, 1], got {self.label_fraction}")
        self._labelled_x: Tensor | None = None
        self._labelled_y: Tensor | None = None

    def setup(self, G, D, num_classes: int) -> None:
        super().setup(G, D, num_classes)
        require_labels("sgan", num_classes)
        require_unconditional_discriminator("sgan", D)
        D.add_head("cls", num_classes)

    # ---- the labelled subset
    def set_labelled_data(self, data: Tensor, labels: Tensor) -> Tensor:
        """Keep this family's labelled subset of (data, labels); returns its indices."""
        index = labelled_subset(labels, self.label_fraction, self.label_seed).to(labels.device)
        self._labelled_x, self._labelled_y = data[index], labels[index]
        return index

    def before_step(self, control) -> None:
        if self._labelled_x is None:
            data, labels = control.training_data()
            if labels is None:
                raise ConfigError("family 'sgan' needs labelled data")
            self.set_labelled_data(data, labels)

    def labelled_batch(self, n: int, noise: torch.Generator) -> tuple[Tensor, Tensor]:
        if self._labelled_x is None:
            raise GanforgeError("SGAN has no labelled subset: call set_labelled_data first")
        idx = torch.randint(0, len(self._labelled_y), (n,), device=self._labelled_y.device,
                            generator=noise)
        return as_model_input(self._labelled_x[idx]), self._labelled_y[idx]

    # ---- the two steps
    @staticmethod
    def class_logits(D, x: Tensor) -> Tensor:
        return D.heads["cls"](D.features(x))

    def d_loss(self, D, reals: Tensor, real_labels: Tensor | None, fakes: Tensor, latent: Latent,
               noise: torch.Generator) -> tuple[Tensor, Stats]:
        d_real = torch.logsumexp(self.class_logits(D, reals).float(), 1)
        d_fake = torch.logsumexp(self.class_logits(D, fakes).float(), 1)
        adversarial = self.objective.d(d_real, d_fake)
        x_lab, y_lab = self.labelled_batch(reals.shape[0], noise)
        logits = self.class_logits(D, x_lab.to(reals.dtype)).float()
        supervised = F.cross_entropy(logits, y_lab)
        loss = adversarial + self.supervised_weight * supervised
        accuracy = (logits.argmax(1) == y_lab).float().mean()
        return loss, {"d_loss": loss.detach(), "d_adv": adversarial.detach(),
                      "d_sup": supervised.detach(), "cls_acc": accuracy.detach(),
                      **self.d_outputs(d_real, d_fake)}

    def g_loss(self, D, fakes: Tensor, latent: Latent) -> tuple[Tensor, Stats]:
        loss = self.objective.g(torch.logsumexp(self.class_logits(D, fakes).float(), 1))
        return loss, {"g_loss": loss.detach()}


def classifier_accuracy(D, images: Tensor, labels: Tensor, batch_size: int = 500) -> float:
    """Share of `images` (uint8, or floats in [-1, 1]) whose largest class logit from D's "cls"
    head is their label. D is put in eval mode (BatchNorm uses its running statistics)."""
    if len(images) == 0:
        raise GanforgeError("no images to classify")
    device = next(D.parameters()).device
    correct = 0
    with inference(D):
        for x, y in zip(images.split(batch_size), labels.split(batch_size)):
            predicted = SGAN.class_logits(D, as_model_input(x.to(device))).argmax(1).cpu()
            correct += int((predicted == y.cpu()).sum())
    return correct / len(images)


def run_accuracy(run_dir: str | Path, dataset=None, device: str = "cpu") -> float:
    """Classification accuracy of a trained SGAN run's discriminator on `dataset` (anything with
    uint8 `images` and `labels`, e.g. a ganforge.data.ImageDataset of a test split). Without one,
    the run's own data minus its labelled subset: images D saw only without their labels."""
    from ..data import load_dataset  # the run's data and checkpoint: loaded lazily, on demand
    from ..training import checkpoint as ckpt
    from ..training.build import build_components
    from ..training.trainer import read_run_config

    cfg = read_run_config(Path(run_dir))
    if cfg.family.get("name") != "sgan":
        raise ConfigError(f"{run_dir} is a '{cfg.family.get('name')}' run, not sgan")
    tensors, _, meta, path = ckpt.load_latest(Path(run_dir), with_state=False)
    parts = build_components(cfg, tuple(meta["data_shape"]), int(meta["num_classes"]), cfg.train.seed)
    parts.D.load_state_dict(tensors["D"])
    D = parts.D.to(device)
    if dataset is None:
        dataset = load_dataset(cfg.data.source, image_size=cfg.data.image_size,
                               channels=cfg.data.channels, skip_bad=cfg.data.skip_bad,
                               seed=cfg.train.seed)
        keep = torch.ones(len(dataset.labels), dtype=torch.bool)
        keep[labelled_subset(dataset.labels, parts.family.label_fraction,
                             parts.family.label_seed)] = False
        return classifier_accuracy(D, dataset.images[keep], dataset.labels[keep])
    return classifier_accuracy(D, torch.as_tensor(dataset.images), torch.as_tensor(dataset.labels))
