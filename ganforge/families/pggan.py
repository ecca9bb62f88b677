"""PGGAN (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality, Stability, and
Variation"): WGAN-GP with a drift term, trained while G and D grow from 4x4 to full size.

The growing schedule is counted in images shown. Stage 0 (4x4) is trained for `stable_kimg`; each
later stage first fades in for `transition_kimg` (alpha rising linearly from 0 to 1), then trains
stably for `stable_kimg` (the last stage for `last_stable_kimg` when set: the paper, too, trains its
final resolution longest). The last stage stays on once its schedule is over. The stage and alpha
follow from the number of images shown alone, so a resumed run continues exactly where it stopped.

At every phase boundary (a fade-in starts or ends) Adam's state is reset, as in the authors' code;
`batch_sizes` gives a batch size per stage (4x4 first, the last value repeats). Real images are
shown to D at the current resolution, and during a fade-in blended the same way as G's output:
alpha * x + (1 - alpha) * upsample(avgpool(x)).

At the end of each stage the family asks the trainer to keep a snapshot of the sampling generator
(TrainingControl.save_generator_snapshot); `ganforge.explore.growth.growth_sheet` draws one fixed
set of latents through those snapshots and the newest checkpoint.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..models.pggan import PGGANDiscriminator, PGGANGenerator, stage_resolution
from ..objectives.regularizers import drift_penalty, gradient_penalty
from .base import Family, Latent, Stats

Tensor = torch.Tensor


@dataclass(frozen=True)
class Phase:
    """One point of the schedule. index: 0 is 4x4 stable, 2s-1 the fade-in of stage s, 2s its
    stable part; alpha is the weight of the newest block (1 outside fade-ins)."""
    index: int
    stage: int
    alpha: float


@dataclass(frozen=True)
class GrowthSchedule:
    stable_images: int
    transition_images: int
    num_stages: int
    last_stable_images: int | None = None  # the last stage's stable phase; None: stable_images

    def at(self, images_seen: int) -> Phase:
        last = self.num_stages - 1
        n = images_seen - self.stable_images
        if n < 0 or last == 0:
            return Phase(0, 0, 1.0)
        period = self.transition_images + self.stable_images
        k, into = divmod(n, period) if period > 0 else (last, 0)
        if k + 1 > last:
            return Phase(2 * last, last, 1.0)
        if into < self.transition_images:
            return Phase(2 * k + 1, k + 1, into / self.transition_images)
        return Phase(2 * k + 2, k + 1, 1.0)

    def phase_start(self, index: int) -> int:
        """Images shown when phase `index` begins."""
        if index == 0:
            return 0
        k, stable = divmod(index - 1, 2)
        return (self.stable_images + k * (self.transition_images + self.stable_images)
                + stable * self.transition_images)

    @property
    def total_images(self) -> int:
        """Images until the last stage has had its fade-in and its stable phase."""
        last = self.stable_images if self.last_stable_images is None else self.last_stable_images
        return self.phase_start(2 * self.num_stages - 2) + last


def _images(kimg: float) -> int:
    return int(round(kimg * 1000))


@dataclass
class PGGAN(Family):
    """Karras et al. 2018. Defaults are the paper's: WGAN-GP with lambda 10, drift 0.001 * D(x)^2,
    600k images per fade-in and per stable phase, Adam state reset at each new resolution."""
    loss: str = "wasserstein"
    gp_weight: float = 10.0
    drift_weight: float = 0.001
    stable_kimg: float = 600.0
    transition_kimg: float = 600.0
    last_stable_kimg: float | None = None  # the last stage's stable phase; None: stable_kimg
    batch_sizes: tuple[int, ...] = ()  # per stage from 4x4; empty: train.batch_size throughout
    reset_optimizer_state: bool = True

    def __post_init__(self):
        super().__post_init__()
        if self.stable_kimg < 0 or self.transition_kimg < 0 or (self.last_stable_kimg or 0) < 0:
            raise ConfigError("family.stable_kimg, transition_kimg and last_stable_kimg must be >= 0")
        try:
            self.batch_sizes = tuple(int(b) for b in self.batch_sizes)
        except (TypeError, ValueError):
            raise ConfigError(f"family.batch_sizes must be integers, got {self.batch_sizes!r}") from None
        if any(b < 1 for b in self.batch_sizes):
            raise ConfigError("family.batch_sizes must be >= 1")
        self._phase: int | None = None  # the phase of the last step, to see boundaries
        self.stage, self.alpha = 0, 1.0

    # ---- set-up
    def setup(self, G, D, num_classes: int) -> None:
        super().setup(G, D, num_classes)
        if not isinstance(G, PGGANGenerator) or not isinstance(D, PGGANDiscriminator):
            raise ConfigError("family 'pggan' needs generator.name = \"pggan\" and "
                              "discriminator.name = \"pggan\"")
        if G.num_stages != D.num_stages:
            raise ConfigError("the PGGAN generator and discriminator disagree on the image size")
        self.G, self.D = G, D
        self.schedule = self._schedule(G.num_stages)
        self._grow(self.schedule.at(0))

    def batch_size_at(self, stage: int, default: int) -> int:
        if not self.batch_sizes:
            return default
        return self.batch_sizes[min(stage, len(self.batch_sizes) - 1)]

    def steps_to_finish(self, num_stages: int, batch_size: int) -> int:
        """Generator steps until the whole schedule has been shown to D (`d_steps` batches per
        step), with one process and no gradient accumulation: the value for train.steps."""
        schedule = self._schedule(num_stages)
        goal, last = schedule.total_images, 2 * (num_stages - 1)
        shown, steps = 0, 0
        while shown < goal:
            phase = schedule.at(shown)
            # Jump to the next phase boundary in whole steps of this phase's batch size.
            end = goal if phase.index == last else schedule.phase_start(phase.index + 1)
            batch = self.batch_size_at(phase.stage, batch_size) * self.d_steps
            n = max(1, math.ceil((end - shown) / batch))
            shown, steps = shown + n * batch, steps + n
        return steps

    # ---- the schedule
    def _schedule(self, num_stages: int) -> GrowthSchedule:
        last = None if self.last_stable_kimg is None else _images(self.last_stable_kimg)
        return GrowthSchedule(_images(self.stable_kimg), _images(self.transition_kimg), num_stages, last)

    def before_step(self, control) -> None:
        phase = self.schedule.at(control.images_seen)
        control.set_batch_size(self.batch_size_at(phase.stage, control.batch_size))
        if self._phase is not None and phase.index != self._phase:
            finished = (self._phase + 1) // 2  # the stage of the phase that just ended
            if phase.stage > finished:
                control.save_generator_snapshot(finished, stage_resolution(finished))
            if self.reset_optimizer_state:
                control.reset_optimizers()
        self._phase = phase.index
        self._grow(phase)

    def _grow(self, phase: Phase) -> None:
        self.stage, self.alpha = phase.stage, phase.alpha
        self.G.set_growth(phase.stage, phase.alpha)
        self.D.set_growth(phase.stage, phase.alpha)

    def prepare_reals(self, reals: Tensor) -> Tensor:
        size = stage_resolution(self.stage)
        factor = reals.shape[-1] // size
        if factor * size != reals.shape[-1]:
            raise ValueError(f"real images of {reals.shape[-1]} pixels cannot be shown at {size}")
        x = F.avg_pool2d(reals, factor) if factor > 1 else reals
        if self.alpha < 1.0:
            coarse = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
            x = torch.lerp(coarse, x, self.alpha)
        return x

    # ---- the D step: WGAN-GP plus drift
    def d_loss(self, D, reals: Tensor, real_labels: Tensor | None, fakes: Tensor, latent: Latent,
               noise: torch.Generator) -> tuple[Tensor, Stats]:
        d_real = D(reals, real_labels)
        d_fake = D(fakes, latent.labels)
        penalty = gradient_penalty(D, reals, fakes, real_labels, generator=noise)
        drift = drift_penalty(d_real)
        loss = self.objective.d(d_real, d_fake) + self.gp_weight * penalty + self.drift_weight * drift
        return loss, {"d_loss": loss.detach(), "gp": penalty.detach(), "drift": drift.detach(),
                      "stage": d_real.new_tensor(self.stage, dtype=torch.float32),
                      "alpha": d_real.new_tensor(self.alpha, dtype=torch.float32),
                      **self.d_outputs(d_real, d_fake)}

    # ---- state that must survive a resume
    def state_dict(self) -> dict:
        return {"phase": -1 if self._phase is None else self._phase}

    def load_state_dict(self, state: dict) -> None:
        phase = int(state.get("phase", -1))
        self._phase = None if phase < 0 else phase
