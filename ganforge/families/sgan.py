"""Semi-supervised GAN (Odena 2016; Salimans et al. 2016): the discriminator is a classifier over
the K real classes plus "generated", trained on a small labelled subset and on all data unlabelled.

Formulation (Salimans et al. 2016, section 5): a head on D's body gives K class logits l_1..l_K;
the logit of the fake class is fixed at 0, which loses nothing (a softmax over K + 1 logits is
unchanged by subtracting one of them). P(real | x) = Z / (Z + 1) with Z = sum_k exp(l_k), so the
real/fake logit is logsumexp_k l_k, and any adversarial `loss` applies to it. The supervised term
is the cross-entropy of the K class logits on a labelled batch, i.e. the (K+1)-way likelihood
conditioned on x being real.

`feature_matching = true` replaces G's adversarial loss by Salimans et al.'s feature matching
(section 3.1): the squared distance between the mean of D's last hidden features (D's body
output, which the class head reads) on the step's generated batch and on the real batch of the
preceding D step (its last chunk under train.accumulate); a mean over features instead of the
sum, which only rescales the gradient. That paper's semi-supervised results come from this
objective (with a noisy, weight-normalised MLP D); with the DCGAN D of the sgan recipe it did
worse on both counts in our runs (benchmarks/RESULTS.md), so it is an option, off by default.

The labelled subset is `label_fraction` of the training set, the same share of every class, chosen
by `label_seed`; each D step draws its labelled batch from it with the run's noise stream, so a
resumed run sees the same batches.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ConfigError, GanforgeError
from ..images import from_uint8
from .base import Family, Latent, Stats
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


@dataclass
class SGAN(Family):
    """Odena 2016 / Salimans et al. 2016. `label_fraction` of the data keeps its labels (0.02 is
    100 of the 5,000 bundled digits, Salimans et al.'s MNIST setting); `supervised_weight` scales
    the labelled cross-entropy against the unsupervised GAN terms."""
    loss: str = "nonsaturating"
    label_fraction: float = 0.02
    label_seed: int = 0
    supervised_weight: float = 1.0
    feature_matching: bool = False

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.label_fraction <= 1.0:
            raise ConfigError(f"family.label_fraction must be in (0, 1], got {self.label_fraction}")
        self._labelled_x: Tensor | None = None
        self._labelled_y: Tensor | None = None
        self._real_features: Tensor | None = None  # mean of D's features on the last real batch

    def setup(self, G, D, num_classes: int) -> None:
        super().setup(G, D, num_classes)
        require_labels("sgan", num_classes)
        require_unconditional_discriminator("sgan", D)
        D.add_head("cls", num_classes)
        # The class logits' logsumexp is the real/fake logit: D's own real/fake output would
        # never be trained, so it goes. Checkpoints written while it existed still load.
        del D.out
        D.register_load_state_dict_pre_hook(_drop_real_fake_output)

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
        return from_uint8(self._labelled_x[idx]), self._labelled_y[idx]

    # ---- the two steps
    @staticmethod
    def class_logits(D, x: Tensor) -> Tensor:
        return D.heads["cls"](D.features(x))

    def critic(self, D, x: Tensor, labels: Tensor | None) -> Tensor:
        return torch.logsumexp(self.class_logits(D, x).float(), 1)

    def d_loss(self, D, reals: Tensor, real_labels: Tensor | None, fakes: Tensor, latent: Latent,
               noise: torch.Generator) -> tuple[Tensor, Stats]:
        real_features = D.features(reals)
        if self.feature_matching:  # the G step's target
            self._real_features = real_features.detach().float().mean(0)
        d_real = torch.logsumexp(D.heads["cls"](real_features).float(), 1)
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
        if self.feature_matching:
            if self._real_features is None:
                raise GanforgeError("SGAN feature matching needs a D step before the first G step")
            fake_features = D.features(fakes).float().mean(0)
            loss = (fake_features - self._real_features).square().mean()
            return loss, {"g_loss": loss.detach()}
        loss = self.objective.g(torch.logsumexp(self.class_logits(D, fakes).float(), 1))
        return loss, {"g_loss": loss.detach()}


def _drop_real_fake_output(module, state_dict, prefix, *args) -> None:
    for name in ("out.weight", "out.bias"):
        state_dict.pop(prefix + name, None)
