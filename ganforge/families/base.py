"""A GAN family says how one discriminator step and one generator step are computed.

The trainer owns everything else (data, optimisers, precision, EMA, checkpoints, logging), so a
family is a small dataclass: its fields are the paper's hyperparameters and are settable from the
config's [family] section. Losses return (loss, stats) where stats are detached tensors that the
trainer reads back only when it logs, keeping the step free of host synchronisation.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..models import Discriminator, Generator
from ..nn.latent import Latent
from ..objectives import LOSSES
from ..objectives.regularizers import LazyRegularizer, r1_penalty

Tensor = torch.Tensor
Stats = dict[str, Tensor]


@dataclass
class Family:
    loss: str = "nonsaturating"
    d_steps: int = 1  # discriminator updates per generator update
    # R1 on reals (Mescheder et al. 2018), weighted gamma / 2; 0 turns it off. r1_interval = k
    # runs it every k-th training step with the weight multiplied by k (StyleGAN2's lazy
    # regularization; the paper uses k = 16).
    r1_gamma: float = 0.0
    r1_interval: int = 1

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown family.loss '{self.loss}'; valid: {', '.join(LOSSES)}")
        if self.d_steps < 1:
            raise ConfigError("family.d_steps must be >= 1")
        if self.r1_gamma < 0 or self.r1_interval < 1:
            raise ConfigError("family.r1_gamma must be >= 0 and family.r1_interval >= 1")
        self.objective = LOSSES[self.loss]

    # ---- set-up, called once by the trainer before the optimisers are built
    def setup(self, G: Generator, D: Discriminator, num_classes: int) -> None:
        self.num_classes = num_classes

    def generator_input_dim(self, z_dim: int) -> int:
        """Width of G's input vector; families that append codes to z make it wider."""
        return z_dim

    def g_parameters(self, G: nn.Module, D: nn.Module) -> list[nn.Parameter]:
        return list(G.parameters())

    def d_parameters(self, G: nn.Module, D: nn.Module) -> list[nn.Parameter]:
        return list(D.parameters())

    def regularizers(self) -> list[LazyRegularizer]:
        """Penalties on D that the trainer runs as their own steps, each at its interval."""
        if self.r1_gamma == 0:
            return []
        return [LazyRegularizer("r1", self.r1_gamma / 2, self.r1_interval, r1_penalty)]

    def critic(self, D: Discriminator, x: Tensor, labels: Tensor | None) -> Tensor:
        """D's real/fake logit, as regularizers on D's input gradient see it."""
        return D(x, labels)

    # ---- the schedule
    def d_steps_at(self, g_step: int) -> int:
        return self.d_steps

    def before_step(self, control) -> None:
        """Called before each generator update with a TrainingControl (images_seen, step,
        set_batch_size, reset_optimizers): schedules such as PGGAN's growing live here."""

    def prepare_reals(self, reals: Tensor) -> Tensor:
        """Transform a real batch before D sees it (PGGAN fades reals to the current resolution)."""
        return reals

    @property
    def reuses_fakes(self) -> bool:
        """One D step per G step: G's forward can serve both steps (detached for D). Families
        whose G loss needs fresh latents, or whose D steps vary, turn this off."""
        return self.d_steps == 1

    # ---- sampling
    def sample_latent(self, n: int, z_dim: int, device: torch.device,
                      generator: torch.Generator, labels: Tensor | None = None) -> Latent:
        z = torch.randn(n, z_dim, device=device, generator=generator)
        if labels is None and self.num_classes > 1:
            labels = torch.randint(0, self.num_classes, (n,), device=device, generator=generator)
        return Latent(z, labels)

    def generate(self, G: Generator, latent: Latent) -> Tensor:
        return G(latent.z, latent.labels)

    # ---- the two steps
    def d_loss(self, D: Discriminator, reals: Tensor, real_labels: Tensor | None,
               fakes: Tensor, latent: Latent, noise: torch.Generator) -> tuple[Tensor, Stats]:
        d_real = D(reals, real_labels)
        d_fake = D(fakes, latent.labels)
        loss = self.objective.d(d_real, d_fake)
        return loss, {"d_loss": loss.detach(), **self.d_outputs(d_real, d_fake)}

    def g_loss(self, D: Discriminator, fakes: Tensor, latent: Latent) -> tuple[Tensor, Stats]:
        loss = self.objective.g(D(fakes, latent.labels))
        return loss, {"g_loss": loss.detach()}

    def after_d_step(self, D: Discriminator) -> None:
        """Hook for constraints applied after the optimiser step (e.g. WGAN's clipping)."""

    def d_outputs(self, d_real: Tensor, d_fake: Tensor) -> Stats:
        """D(x) and D(G(z)) for the log: probabilities for BCE losses, raw critic values else;
        and E[sign(D(x))] of the raw reals' logits (ADA's overfitting measure r_t)."""
        sign = torch.sign(d_real.detach()).float().mean()
        if self.objective.probabilistic:
            d_real, d_fake = torch.sigmoid(d_real), torch.sigmoid(d_fake)
        return {"d_real": d_real.detach().float().mean(), "d_fake": d_fake.detach().float().mean(),
                "d_real_sign": sign}

    # ---- state that must survive a resume (e.g. BEGAN's k_t)
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
