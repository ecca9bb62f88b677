"""BEGAN (Berthelot et al. 2017): an auto-encoder discriminator and a proportional control that
keeps the generator and discriminator in equilibrium.

With L(v) = |v - D(v)| (mean absolute reconstruction error):
    L_D = L(x) - k_t L(G(z)),   L_G = L(G(z)),
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1),   k_0 = 0,
    M_global = L(x) + |gamma L(x) - L(G(z))|   (convergence measure, logged as `m_global`).
k is updated after each D step from that step's losses (the reference code's order: both losses
are computed with the same D before either update). The learning rates are multiplied by
`lr_factor` (halved) when M_global stalls: its mean over each window of patience/10 images is
compared with the best so far, and after `patience` images without a new best the trainer's
learning rates are scaled (one host read per window, none inside the step).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..collectives import mean_over_processes
from ..errors import ConfigError
from .base import Family, Latent, Stats

Tensor = torch.Tensor


@dataclass
class BEGAN(Family):
    """Berthelot et al. 2017. `gamma` is the diversity ratio E[L(G(z))] / E[L(x)] (0.5 default;
    the paper uses 0.3-0.7); `lambda_k` the proportional gain of k; `k0` its start."""
    loss: str = "began"
    gamma: float = 0.5
    lambda_k: float = 0.001
    k0: float = 0.0
    patience: int = 100_000   # images without a better M_global before the lr decays; 0: never
    lr_factor: float = 0.5

    def __post_init__(self):
        if self.loss != "began":
            raise ConfigError("BEGAN trains on auto-encoder reconstruction energies with its own "
                              "equilibrium loss: family.loss must be 'began'")
        if self.d_steps < 1:
            raise ConfigError("family.d_steps must be >= 1")
        if not 0.0 <= self.k0 <= 1.0 or self.gamma <= 0 or self.lambda_k < 0:
            raise ConfigError("BEGAN needs 0 <= k0 <= 1, gamma > 0 and lambda_k >= 0")
        if self.patience < 0 or not 0.0 < self.lr_factor <= 1.0:
            raise ConfigError("family.patience must be >= 0 and family.lr_factor in (0, 1]")
        self.objective = None  # no logit-based adversarial loss
        self.k = torch.tensor(float(self.k0))
        self._balance = torch.zeros(())       # sum of gamma L(x) - L(G(z)) since the last D step
        self._balance_n = 0
        self._m_sum, self._m_n = torch.zeros(()), 0  # M_global over the current window
        self._window_start = 0
        self._best, self._best_at = math.inf, 0

    def setup(self, G, D, num_classes: int) -> None:
        super().setup(G, D, num_classes)
        if not hasattr(D, "reconstruction_error"):
            raise ConfigError("family 'began' needs the auto-encoder discriminator: "
                              "set discriminator.name=began")

    @property
    def window(self) -> int:
        return max(1, self.patience // 10)

    def _on(self, device: torch.device) -> None:
        if self.k.device != device:
            self.k, self._balance = self.k.to(device), self._balance.to(device)
            self._m_sum = self._m_sum.to(device)

    # ---- the two steps
    def d_loss(self, D, reals: Tensor, real_labels: Tensor | None, fakes: Tensor, latent: Latent,
               noise: torch.Generator) -> tuple[Tensor, Stats]:
        self._on(reals.device)
        l_real = D.reconstruction_error(reals).float().mean()
        l_fake = D.reconstruction_error(fakes).float().mean()
        loss = l_real - self.k * l_fake
        balance = (self.gamma * l_real - l_fake).detach()
        m_global = l_real.detach() + balance.abs()
        self._balance = self._balance + balance
        self._balance_n += 1
        self._m_sum = self._m_sum + m_global
        self._m_n += 1
        return loss, {"d_loss": loss.detach(), "l_real": l_real.detach(),
                      "l_fake": l_fake.detach(), "k": self.k.clone(), "m_global": m_global}

    def after_d_step(self, D) -> None:
        if self._balance_n:
            # Under DDP every process must move k_t the same way: the balance of all batches.
            step = self.lambda_k * mean_over_processes(self._balance) / self._balance_n
            self.k = (self.k + step).clamp(0.0, 1.0)
            self._balance, self._balance_n = torch.zeros_like(self._balance), 0

    def g_loss(self, D, fakes: Tensor, latent: Latent) -> tuple[Tensor, Stats]:
        loss = D.reconstruction_error(fakes).float().mean()
        return loss, {"g_loss": loss.detach()}

    # ---- learning-rate decay when M_global stalls
    def before_step(self, control) -> None:
        if self.patience == 0 or self._m_n == 0:
            return
        seen = control.images_seen
        if seen - self._window_start < self.window:
            return
        mean = float(mean_over_processes(self._m_sum)) / self._m_n  # the one host read of this window
        self._m_sum, self._m_n = torch.zeros_like(self._m_sum), 0
        self._window_start = seen
        if mean < self._best:
            self._best, self._best_at = mean, seen
        elif seen - self._best_at >= self.patience:
            control.scale_lr(self.lr_factor)
            self._best_at = seen  # another `patience` images before the next decay

    # ---- resume
    def state_dict(self) -> dict:
        return {"k": self.k.detach().cpu().clone(), "balance": self._balance.detach().cpu().clone(),
                "balance_n": self._balance_n, "m_sum": self._m_sum.detach().cpu().clone(),
                "m_n": self._m_n, "window_start": self._window_start, "best": self._best,
                "best_at": self._best_at}

    def load_state_dict(self, state: dict) -> None:
        device = self.k.device
        self.k = torch.as_tensor(state["k"], dtype=torch.float32).to(device)
        self._balance = torch.as_tensor(state.get("balance", 0.0), dtype=torch.float32).to(device)
        self._balance_n = int(state.get("balance_n", 0))
        self._m_sum = torch.as_tensor(state.get("m_sum", 0.0), dtype=torch.float32).to(device)
        self._m_n = int(state.get("m_n", 0))
        self._window_start = int(state.get("window_start", 0))
        self._best = float(state.get("best", math.inf))
        self._best_at = int(state.get("best_at", 0))
