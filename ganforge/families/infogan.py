"""InfoGAN (Chen et al. 2016): latent codes appended to z, and a head Q on D's body that recovers
them from the generated image; maximising the mutual information between codes and images makes
the codes control interpretable factors (digit class, slant, width on MNIST).

Choices, following the authors' MNIST setup: one 10-way categorical code and two continuous codes
uniform on [-1, 1]; lambda_cat = 1, lambda_cont = 0.1. The continuous codes' log-likelihood is a
Gaussian with fixed unit variance (the authors' MNIST code fixes it too), so that term is half a
squared error plus a constant; `learn_std = true` lets Q predict a log-std per code instead.

Who learns from the information term: D's step adds it (on the detached fakes), training Q and the
shared D body with D's optimiser; G's step adds it too, training G only. Q is trained by D's
optimiser alone, as in the authors' code (Q's variables are among D's), so `g_parameters` is G
and `d_parameters` is all of D, Q included. The G step needs no fresh latents (it scores the D step's fakes against their own codes), so fakes are reused
whenever the base family allows it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..objectives.information import categorical_nll, gaussian_nll
from .base import Family, Latent, Stats

Tensor = torch.Tensor


@dataclass
class InfoGAN(Family):
    """Chen et al. 2016, with any adversarial `loss` for the real/fake head."""
    loss: str = "nonsaturating"
    categorical: int = 10   # categories of the categorical code (0: no categorical code)
    continuous: int = 2     # number of continuous codes, each uniform on [-1, 1]
    lambda_cat: float = 1.0
    lambda_cont: float = 0.1
    learn_std: bool = False
    q_hidden: int = 0       # width of Q's own hidden layer (0: Q is one linear layer on D's body)

    def __post_init__(self):
        super().__post_init__()
        if self.categorical == 1 or self.categorical < 0 or self.continuous < 0:
            raise ConfigError("family.categorical must be 0 or >= 2 and family.continuous >= 0")
        if self.q_hidden < 0:
            raise ConfigError(f"family.q_hidden must be >= 0, got {self.q_hidden}")
        if self.categorical == 0 and self.continuous == 0:
            raise ConfigError("InfoGAN needs at least one latent code "
                              "(family.categorical or family.continuous)")

    @property
    def code_dim(self) -> int:
        return self.categorical + self.continuous

    def generator_input_dim(self, z_dim: int) -> int:
        return z_dim + self.code_dim

    def setup(self, G, D, num_classes: int) -> None:
        super().setup(G, D, num_classes)
        self.z_dim = getattr(G, "noise_dim", G.z_dim - self.code_dim)
        width = self.categorical + self.continuous * (2 if self.learn_std else 1)
        D.add_head("q", width, hidden=self.q_hidden)

    # ---- sampling
    def sample_latent(self, n: int, z_dim: int, device: torch.device,
                      generator: torch.Generator, labels: Tensor | None = None) -> Latent:
        latent = super().sample_latent(n, z_dim, device, generator, labels)
        if self.categorical:
            latent.codes["cat"] = torch.randint(0, self.categorical, (n,), device=device,
                                                generator=generator)
        if self.continuous:
            latent.codes["cont"] = torch.rand(n, self.continuous, device=device,
                                              generator=generator) * 2 - 1
        return latent

    def generator_input(self, latent: Latent) -> Tensor:
        parts = [latent.z]
        if self.categorical:
            parts.append(F.one_hot(latent.codes["cat"], self.categorical).to(latent.z.dtype))
        if self.continuous:
            parts.append(latent.codes["cont"].to(latent.z.dtype))
        return torch.cat(parts, 1)

    def generate(self, G, latent: Latent) -> Tensor:
        return G(self.generator_input(latent), latent.labels)

    # ---- the information term
    def information_loss(self, q_out: Tensor, codes: dict[str, Tensor]) -> tuple[Tensor, Stats]:
        """lambda_cat * NLL(categorical) + lambda_cont * NLL(continuous) of the drawn codes under
        Q's prediction `q_out` [N, width of the Q head]."""
        stats: Stats = {}
        total = q_out.new_zeros((), dtype=torch.float32)
        k = self.categorical
        if k:
            logits = q_out[:, :k]
            cat = categorical_nll(logits, codes["cat"])
            total = total + self.lambda_cat * cat
            stats["mi_cat"] = cat.detach()
            stats["q_cat_acc"] = (logits.argmax(1) == codes["cat"]).float().mean().detach()
        if self.continuous:
            c = self.continuous
            mean = q_out[:, k:k + c]
            log_std = q_out[:, k + c:k + 2 * c] if self.learn_std else None
            cont = gaussian_nll(codes["cont"], mean, log_std)
            total = total + self.lambda_cont * cont
            stats["mi_cont"] = cont.detach()
        return total, stats

    def _heads(self, D, x: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor]:
        feats = D.features(x, labels)
        return D.logit(feats, labels), D.heads["q"](feats)

    def d_loss(self, D, reals: Tensor, real_labels: Tensor | None, fakes: Tensor, latent: Latent,
               noise: torch.Generator) -> tuple[Tensor, Stats]:
        d_real = D(reals, real_labels)
        d_fake, q_out = self._heads(D, fakes, latent.labels)
        adversarial = self.objective.d(d_real, d_fake)
        info, _ = self.information_loss(q_out, latent.codes)  # logged once, from the G step
        loss = adversarial + info
        return loss, {"d_loss": loss.detach(), "d_adv": adversarial.detach(),
                      **self.d_outputs(d_real, d_fake)}

    def g_loss(self, D, fakes: Tensor, latent: Latent) -> tuple[Tensor, Stats]:
        d_fake, q_out = self._heads(D, fakes, latent.labels)
        adversarial = self.objective.g(d_fake)
        info, info_stats = self.information_loss(q_out, latent.codes)
        loss = adversarial + info
        return loss, {"g_loss": loss.detach(), "g_adv": adversarial.detach(), **info_stats}
