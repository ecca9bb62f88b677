"""A training step's optimiser phases as data (in the spirit of StyleGAN2-ADA's phase list): each
phase names the parameters it trains, its optimiser, its gradient scaler (fp16) and its gradient
sync (DDP). The trainer runs the D phase `family.d_steps_at(step)` times, then the regularizers
whose interval has come round (on the D phase's optimiser), then the G phase."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config
from ..errors import ConfigError
from ..families import Family
from .runtime import GradientSync, Runtime


@dataclass
class Phase:
    name: str                      # "D" or "G"
    params: list[nn.Parameter]
    base_lr: float                 # before divergence rollbacks scale it (Trainer.lr_scale)
    opt: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    sync: GradientSync

    @property
    def state_key(self) -> str:
        """Suffix of this phase's checkpoint entries: opt_d / scaler_d, opt_g / scaler_g."""
        return self.name.lower()

    def micro_batch(self, last: bool):
        """Gradient accumulation: only the last micro-batch's backward all-reduces (DDP)."""
        return self.sync.micro_batch(last)

    def zero_grad(self) -> None:
        self.opt.zero_grad(set_to_none=True)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self) -> None:
        if self.scaler is None:
            self.opt.step()
        else:  # skips the step when fp16 gradients overflowed, then adapts the scale
            self.scaler.step(self.opt)
            self.scaler.update()

    def set_lr_scale(self, scale: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = self.base_lr * scale

    def state_dict(self) -> dict:
        state = {f"opt_{self.state_key}": self.opt.state_dict()}
        if self.scaler is not None:
            state[f"scaler_{self.state_key}"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.opt.load_state_dict(state[f"opt_{self.state_key}"])
        if self.scaler is not None and f"scaler_{self.state_key}" in state:
            self.scaler.load_state_dict(state[f"scaler_{self.state_key}"])


@dataclass
class Phases:
    D: Phase
    G: Phase

    def __iter__(self):
        return iter((self.G, self.D))  # the order the checkpoint state was always written in


def build_phases(cfg: Config, family: Family, G: nn.Module, D: nn.Module, rt: Runtime,
                 lr_scale: float = 1.0, previous: Phases | None = None) -> Phases:
    """Fresh optimisers (and scalers) for D and G; a previous phase's gradient sync is kept when
    it covers the same parameters (DDP wrappers are costly to rebuild)."""
    specs = {"G": (family.g_parameters(G, D), cfg.optim.g_lr),
             "D": (family.d_parameters(G, D), cfg.optim.d_lr)}
    built = {}
    for name, (params, base_lr) in specs.items():
        old = getattr(previous, name) if previous is not None else None
        opt = optimizer(cfg, params, base_lr * lr_scale)
        owned = [p for group in opt.param_groups for p in group["params"]]
        sync = old.sync if old is not None and old.sync.covers(owned) else GradientSync(owned, rt)
        scaler = old.scaler if old is not None else rt.grad_scaler()
        built[name] = Phase(name, owned, base_lr, opt, scaler, sync)
    return Phases(D=built["D"], G=built["G"])


def decay_factor(step: int, steps: int, decay_start: float) -> float:
    """The share of the base rates used by update `step` (0-based) of a `steps`-update run: 1 until
    decay_start * steps, then falling linearly to 1 / (updates left at the start of the decay) at the
    last update, so no update runs at rate 0. decay_start 1 keeps the rates constant."""
    start = decay_start * steps
    if decay_start >= 1 or step < start:
        return 1.0
    return (steps - step) / (steps - start)


def optimizer(cfg: Config, params, lr: float) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.name == "adam":
        # fused: one kernel for all parameters on CPU and GPU; it also takes the fp16 gradient
        # scaler's inf check inside the kernel instead of reading it back to the host.
        return torch.optim.Adam(params, lr=lr, betas=tuple(o.betas), eps=o.eps, fused=True)
    if o.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, eps=o.eps, foreach=True)
    raise ConfigError(f"optim.name must be adam or rmsprop, got '{o.name}'")
