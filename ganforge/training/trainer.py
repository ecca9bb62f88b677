"""The training loop. It knows nothing family-specific: the family computes each step's losses,
the trainer owns data, optimisers, precision, EMA, sample grids, checkpoints and the log."""
from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import time
import warnings
from pathlib import Path

import torch
from torch import nn

from .. import run
from ..collectives import mean_over_processes
from ..config import Config
from ..data.batches import ImageStream, InMemoryBatches, StreamingBatches
from ..errors import CheckpointError, ConfigError, GanforgeError
from ..families import Family
from ..images import grid_image, save_png
from ..io import atomic_write_text
from ..limits import seed64
from ..models.base import inference
from ..nn.augment import DiffAugment
from ..nn.ema import ExponentialMovingAverage, ema_decay_from_half_life
from ..objectives.regularizers import LazyRegularizer
from ..provenance import provenance
from . import checkpoint as ckpt
from .build import build_components, check_batch_norm_batches, check_memory, planned_components
from .control import TrainingControl
from .discriminator_input import adapt_augmentation, attach_noise
from .evaluation import PeriodicEvaluation
from .logbook import MetricsLog, StatsAccumulator
from .loggers import Loggers, open_loggers
from .progress import Progress, make_progress
from .phases import Phase, build_phases, decay_factor
from .runtime import Runtime, compile_modules, fastest_layout, resolve_runtime, sync_batchnorms

# Debugging DDP: every rank writes DIR/rank-<r>.json at the end of train() with a hash of its
# weights and the dataset indices it consumed (see tests/scale/test_ddp.py).
RANK_DUMP_ENV = "GANFORGE_DEBUG_RANK_DUMP"


class Trainer:
    def __init__(self, cfg: Config, run_dir: Path, resume: bool = False):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.rt = self._runtime()
        self.dataset, self.memory_plan = run.training_data(cfg)
        if cfg.train.eval_every and isinstance(self.dataset, ImageStream):  # say so before training
            raise ConfigError(f"train.eval_every needs the training set in memory, and it streams "
                              f"({self.memory_plan.reason}); set data.in_memory=true or train.eval_every=0")
        self.provenance = provenance(self.rt.device, self.rt.world_size)  # also in every checkpoint
        self.data_shape, self.num_classes = _sample_shape(self.dataset), self.dataset.num_classes
        self.family, self.G, self.D, self.augment = self._models()
        self.ema = ExponentialMovingAverage(self.G) if cfg.train.ema else None  # before compiling G
        if cfg.train.compile:
            compile_modules([self.G, self.D], self.rt.device)
        self.phases = build_phases(cfg, self.family, self.G, self.D, self.rt)
        self.regularizers = self.family.regularizers()
        # Parameters that train at all; each phase turns on only its own (see _train_only).
        self._trainable = [p for m in (self.G, self.D) for p in m.parameters() if p.requires_grad]
        self._grads_for: Phase | None = None  # None: every trainable parameter, as built
        self.batches = self._batches()
        # One noise stream per rank, seeded, saved in checkpoints: resume continues it exactly.
        self.noise = torch.Generator(self.rt.device).manual_seed(
            seed64(cfg.train.seed * 7919 + 1 + self.rt.rank))
        attach_noise(self.augment, self.noise)  # augmentations draw from it too
        self.fixed = self._grid_latent()
        self.step, self.images_seen = 0, 0
        self.lr_scale, self.rollbacks = 1.0, 0  # lowered by divergence rollbacks
        self.control = TrainingControl(self)
        self.progress = Progress()  # train() replaces it with one that suits the output
        self.log = MetricsLog(run.metrics_path(self.run_dir), self.rt.is_main)
        self.evaluation = PeriodicEvaluation(cfg, self.run_dir, self.rt.device)
        if resume:
            self._restore()
        elif self.rt.is_main:
            self._write_run_files()
        self.start_step = self.step
        self.loggers = (open_loggers(cfg.train.logger, self.run_dir, cfg.to_dict(), self.step)
                        if self.rt.is_main and cfg.train.logger else Loggers())
        self.log.sinks.append(self.loggers)

    # ------------------------------------------------------------------ set-up steps
    def _runtime(self) -> Runtime:
        t = self.cfg.train
        rt = resolve_runtime(t.device, t.precision, t.threads)
        if t.sync_bn and rt.distributed and rt.device.type != "cuda":
            raise ConfigError("train.sync_bn needs CUDA devices: torch's SyncBatchNorm does not run on the CPU")
        return rt

    def _models(self) -> tuple[Family, nn.Module, nn.Module, DiffAugment | None]:
        """The family, G and D built from the config (seeded), placed on the device, and D's
        input augmentation (DiffAugment / ADA; its p is a buffer of D) or None."""
        t, rt = self.cfg.train, self.rt
        # Sizes against the memory budget first, on the meta device: nothing allocated yet.
        check_memory(planned_components(self.cfg, self.data_shape, self.num_classes), self.cfg,
                     self.data_shape, training=True)
        parts = build_components(self.cfg, self.data_shape, self.num_classes, t.seed)
        check_batch_norm_batches(parts, self.cfg)
        G, D = parts.G, parts.D
        if t.sync_bn and rt.distributed:
            G, D = sync_batchnorms(G), sync_batchnorms(D)
        if rt.rank > 0:  # initialisation is shared; dropout and other global draws are per rank
            torch.manual_seed(seed64(t.seed * 7919 + rt.rank))
        # channels_last: the layout oneDNN (CPU) and tensor-core kernels (GPU) convolve fastest.
        self.channels_last = fastest_layout(t.channels_last, t.precision) and len(self.data_shape) == 3
        for module in (G, D):
            module.to(rt.device)
            if self.channels_last:
                module.to(memory_format=torch.channels_last)
        if rt.precision != "fp32":
            # Autocast leaves D's logits in bf16/fp16 on the CPU; the adversarial losses that
            # families compute from D(x) then run in full precision.
            D.register_forward_hook(_full_precision_output)
        return parts.family, G, D, parts.augment

    def _batches(self):
        t, rt = self.cfg.train, self.rt
        if isinstance(self.dataset, ImageStream):
            batches = StreamingBatches(self.dataset, t.batch_size, t.seed, rt.device, rt.rank,
                                       rt.world_size, self.cfg.data.workers, self.cfg.data.skip_bad)
        else:
            data, labels = _in_memory(self.dataset)
            batches = InMemoryBatches(data, labels, t.batch_size, t.seed, rt.device, rt.rank, rt.world_size)
        self.rank_dump = os.environ.get(RANK_DUMP_ENV)
        if self.rank_dump:
            batches.consumed = []
        return batches

    def _grid_latent(self):
        """The fixed latents of the sample grids (conditional models: one class per row)."""
        t, device = self.cfg.train, self.rt.device
        grid_n = min(t.grid_size, 256)
        if self._conditional_grid() and grid_n >= self.num_classes:
            grid_n -= grid_n % self.num_classes  # full rows only: one class per row
        return self.family.sample_latent(grid_n, self.G.noise_dim, device,
                                         torch.Generator(device).manual_seed(seed64(t.seed + 12345)),
                                         labels=self._grid_labels(grid_n))

    def _write_run_files(self) -> None:
        run.write_config(self.run_dir, self.cfg)
        summary = {
            "source": self.cfg.data.source, "samples": len(self.dataset),
            "shape": list(self.data_shape), "num_classes": self.num_classes,
            "skipped": int(getattr(self.dataset, "skipped", 0)),
            "streamed": isinstance(self.dataset, ImageStream), "processes": self.rt.world_size,
            **self.memory_plan.summary(), "provenance": self.provenance,
            # What train.precision=auto resolved to on this machine, so rows can say it.
            "computes": {"precision": self.rt.precision, "channels_last": self.channels_last}}
        run.write_data_summary(self.run_dir, summary)
        if self.cfg.train.progress:
            print(run.data_summary_text(summary))

    # ------------------------------------------------------------------ the loop
    def train(self, until: int | None = None) -> Path:
        """Train to train.steps, or only to step `until` (a benchmark's segment); the logs,
        grids and checkpoints due at train.steps are written when it is reached."""
        t = self.cfg.train
        stop = t.steps if until is None else min(until, t.steps)
        stats = StatsAccumulator()
        self.progress = make_progress(t.progress and self.rt.is_main, t.steps, self.step)
        interval_start, interval_images = time.perf_counter(), 0
        while self.step < stop:
            images_before = self.images_seen
            self._train_step(stats)
            self.step += 1
            interval_images += self.images_seen - images_before
            logging = self.step % t.log_every == 0 or self.step == t.steps
            saving = self.step % t.ckpt_every == 0 or self.step == t.steps
            if logging or saving:
                elapsed = time.perf_counter() - interval_start
                record, bad = self._log(stats, interval_images / max(elapsed, 1e-9)) if logging else ({}, [])
                bad += self._nonfinite_weights()
                if not bad:
                    self._check_ranks_agree()
                if bad:
                    self._diverged(bad)
                    stats = StatsAccumulator()
                    self.progress.moved_to(self.step)
                    interval_start, interval_images = time.perf_counter(), 0
                    continue
                if logging:
                    self.progress.report(record)
                    interval_start, interval_images = time.perf_counter(), 0
            if self.rt.is_main and (self.step % t.sample_every == 0 or self.step == t.steps):
                self.write_grid()
            if t.eval_every and (self.step % t.eval_every == 0 or self.step == t.steps):
                self.periodic_eval()
            if saving:
                self.save()
            self.progress.advance(self.step)
        self.progress.close()
        if self.step >= t.steps:
            self.loggers.close()
        else:  # a segment (train(until=...)): more records follow
            self.loggers.flush()
        self._train_only(None)
        if self.rank_dump:
            self._write_rank_dump(Path(self.rank_dump))
        return self.run_dir

    def _train_step(self, stats: StatsAccumulator) -> None:
        """One generator update and what comes before it: the family's schedule, the D updates,
        the regularizers due at this step. Each phase's loss runs as one GradientSync call (DDP's
        forward when distributed); nothing here waits for the device: statistics stay tensors
        until a logging step reads them."""
        self.family.before_step(self.control)
        if self.cfg.optim.decay_start < 1:  # after before_step: PGGAN may have rebuilt the optimisers
            factor = decay_factor(self.step, self.cfg.train.steps, self.cfg.optim.decay_start)
            for phase in self.phases:
                phase.set_lr_scale(self.lr_scale * factor)
        kept = None  # (latent, fakes) of the last D update, reused by the G update when allowed
        for _ in range(self.family.d_steps_at(self.step)):
            kept = self._d_update(stats)
            self.family.after_d_step(self.D)
        for regularizer in self.regularizers:
            if regularizer.due(self.step):
                self._regularize(regularizer, stats)
        self._g_update(stats, kept)
        self._update_ema()

    def _d_update(self, stats: StatsAccumulator):
        phase, fam, rt, n = self.phases.D, self.family, self.rt, self.cfg.train.accumulate
        B, reuse, kept = self.batches.batch_size, fam.reuses_fakes and n == 1, None
        phase.zero_grad()
        for i in range(n):
            reals, labels = self._last_reals = self._next_reals()
            latent = fam.sample_latent(B, self.G.noise_dim, rt.device, self.noise)
            with phase.micro_batch(last=i == n - 1):
                with rt.autocast():
                    if reuse:
                        self._train_only(self.phases.G)  # this forward's graph serves the G update
                        fakes = fam.generate(self.G, latent)
                        kept, d_fakes = (latent, fakes), fakes.detach()
                    else:
                        with torch.no_grad():
                            d_fakes = fam.generate(self.G, latent)
                    self._train_only(phase)
                    loss, d_stats = phase.sync(fam.d_loss, self.D, reals, labels, d_fakes, latent, self.noise)
                phase.backward(loss / n)
            stats.add(adapt_augmentation(self.augment, d_stats, B * rt.world_size))  # ADA's p
            self.images_seen += B * rt.world_size
        phase.step()
        return kept

    def _regularize(self, regularizer: LazyRegularizer, stats: StatsAccumulator) -> None:
        """A lazy regularizer's own update of D (StyleGAN2's "Dreg" phase), on the reals of the
        last D update."""
        phase, (reals, labels) = self.phases.D, self._last_reals
        self._train_only(phase)
        phase.zero_grad()
        critic = functools.partial(self.family.critic, self.D)
        with self.rt.autocast():
            loss, value = phase.sync(regularizer.loss, critic, reals, labels)
        phase.backward(loss)
        phase.step()
        stats.add({regularizer.name: value})

    def _g_update(self, stats: StatsAccumulator, kept) -> None:
        phase, fam, rt, n = self.phases.G, self.family, self.rt, self.cfg.train.accumulate
        self._train_only(phase)
        phase.zero_grad()
        for i in range(n):
            with phase.micro_batch(last=i == n - 1):
                with rt.autocast():
                    if kept is not None:
                        latent, fakes = kept
                        loss, g_stats = phase.sync(fam.g_loss, self.D, fakes, latent)
                    else:
                        latent = fam.sample_latent(self.batches.batch_size, self.G.noise_dim, rt.device,
                                                   self.noise)
                        loss, g_stats = phase.sync(self._fresh_g_loss, latent)
                phase.backward(loss / n)
            stats.add(g_stats)
        phase.step()

    def _update_ema(self) -> None:
        if self.ema is None:
            return
        t = self.cfg.train
        images = self.batches.batch_size * t.accumulate * self.rt.world_size
        decay = 0.0 if self.step < t.ema_start_step else ema_decay_from_half_life(
            images, t.ema_half_life_kimg * 1000)
        self.ema.update(self.G, decay)

    def _train_only(self, phase: Phase | None) -> None:
        """Only `phase`'s parameters (None: every trainable one, as built) record gradients from
        here on (as in StyleGAN2-ADA): the G update's backward passes through D without computing
        D's weight gradients, which nothing would use, and no phase's backward touches parameters
        only another phase updates (under DDP that would count as their gradient accumulation).
        Phases rebuilt by reset_optimizers are new objects, so their flags are set afresh."""
        if phase is self._grads_for:
            return
        own = {id(p) for p in (self._trainable if phase is None else phase.params)}
        for p in self._trainable:
            p.requires_grad_(id(p) in own)
        self._grads_for = phase

    def _next_reals(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        reals, labels = self.batches.next()
        if self.channels_last:
            reals = reals.contiguous(memory_format=torch.channels_last)
        return self.family.prepare_reals(reals), labels

    def _fresh_g_loss(self, latent):
        return self.family.g_loss(self.D, self.family.generate(self.G, latent), latent)

    # ------------------------------------------------------------------ schedule controls
    def set_batch_size(self, n: int) -> None:
        self.batches.set_batch_size(n)

    def reset_optimizers(self) -> None:
        """Fresh optimiser state for every phase (PGGAN at each new resolution)."""
        self.phases = build_phases(self.cfg, self.family, self.G, self.D, self.rt, self.lr_scale,
                                   previous=self.phases)

    def scale_lr(self, factor: float) -> None:
        self.lr_scale *= factor
        for phase in self.phases:
            phase.set_lr_scale(self.lr_scale)

    # ------------------------------------------------------------------ outputs
    def _log(self, stats: StatsAccumulator, img_per_s: float) -> tuple[dict, list[str]]:
        means = stats.means(reduce=mean_over_processes if self.rt.distributed else None)
        record = {"step": self.step, "images_seen": self.images_seen,
                  "img_per_s": round(img_per_s, 2), **{k: round(v, 6) for k, v in means.items()}}
        self.log.write(record)
        return record, [k for k, v in means.items() if not math.isfinite(v)]

    def _nonfinite_weights(self) -> list[str]:
        params = [p for m in (self.G, self.D) for p in m.parameters()]
        finite = torch.stack([p.detach().isfinite().all() for p in params]).all()
        return [] if bool(finite) else ["weights"]

    def _check_ranks_agree(self) -> None:
        """DDP keeps every rank's weights equal, unless a family's schedule decides something
        from its own rank's batches alone (e.g. lowering a learning rate): stop, naming it."""
        if not self.rt.distributed:
            return
        sums = torch.stack([p.detach().double().sum() for m in (self.G, self.D) for p in m.parameters()])
        spread = torch.stack([sums, -sums])
        torch.distributed.all_reduce(spread, op=torch.distributed.ReduceOp.MAX)
        if not torch.equal(spread[0], -spread[1]):
            raise GanforgeError(f"at step {self.step} the processes' weights differ: the family "
                                f"'{self.cfg.family['name']}' made a decision from one process's "
                                "batches alone (its statistics must be averaged across ranks)")

    def _diverged(self, bad: list[str]) -> None:
        """NaN/Inf seen: stop with a clear message, or roll back to the last checkpoint with a
        lower learning rate. A non-finite state is never checkpointed."""
        t = self.cfg.train
        what = f"training diverged at step {self.step}: {', '.join(bad)} became NaN/Inf"
        can_roll = t.on_nan == "rollback" and self.rollbacks < t.max_rollbacks
        if not can_roll or not ckpt.checkpoint_dirs(self.run_dir):
            hint = (f"; the last good checkpoint is in {run.checkpoints_dir(self.run_dir)}"
                    if ckpt.checkpoint_dirs(self.run_dir) else "")
            if t.on_nan == "rollback" and self.rollbacks >= t.max_rollbacks:
                hint += f" (gave up after {self.rollbacks} rollbacks)"
            raise GanforgeError(what + hint)
        # The checkpoint holds the scale and count from before this divergence: lower from the
        # current values so repeated rollbacks keep compounding.
        scale, count = self.lr_scale, self.rollbacks + 1
        self._restore()
        self.rollbacks, self.lr_scale = count, scale
        self.scale_lr(t.nan_lr_factor)
        warnings.warn(f"{what}; rolled back to step {self.step} with learning rates x{self.lr_scale:g}")
        self.log.write({"step": self.step, "event": "rollback", "lr_scale": self.lr_scale})

    def periodic_eval(self) -> dict:
        """train.eval_every: metrics in the log (and returned), the best generator kept (see
        training/evaluation.py). Rank 0 only; other ranks return {}."""
        if not self.rt.is_main:
            return {}
        record = self.evaluation(self.sampling_generator, self.family, self.dataset, self.step,
                                 self.images_seen, ema=self.ema is not None)
        self.log.write({"step": self.step, **record})
        self.progress.report({"step": self.step, **record})
        return record

    @property
    def sampling_generator(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.G

    def write_grid(self) -> Path:
        with inference(self.sampling_generator) as G:
            samples = self.family.generate(G, self.fixed).float()
        nrow = self._grid_columns(len(samples)) if self._conditional_grid() else None
        grid = grid_image(samples, nrow=nrow, scale=2 if self.data_shape[-1] <= 32 else 1)
        path = run.sample_grid_path(self.run_dir, self.step)
        save_png(grid, path)
        save_png(grid, run.sample_grid_path(self.run_dir))
        self.loggers.image(self.step, "samples", grid)
        return path

    def _conditional_grid(self) -> bool:
        return getattr(self.G, "conditioning", "none") != "none" and self.num_classes > 1

    def _grid_labels(self, n: int) -> torch.Tensor | None:
        """Conditional models: rows of the grid are classes."""
        if not self._conditional_grid():
            return None
        return torch.arange(n, device=self.rt.device) // self._grid_columns(n) % self.num_classes

    def _grid_columns(self, n: int) -> int:
        """Images per row of a class grid: each row holds one class."""
        return max(1, n // self.num_classes)

    # ------------------------------------------------------------------ checkpoints
    def modules(self) -> dict:
        return {"G": self.G, "D": self.D, "G_ema": self.ema.module if self.ema else None}

    def save(self) -> Path | None:
        """Rank 0 writes the checkpoint, holding every rank's random streams; all ranks wait
        until it is complete, so any of them may resume from it."""
        ranks = self.rt.gather_objects(self._rank_state())  # a collective: every rank calls it
        path = None
        if self.rt.is_main:
            state = {
                **self.phases.G.state_dict(), **self.phases.D.state_dict(),
                "batches": self.batches.state_dict(), **ranks[0],
                "step": self.step, "images_seen": self.images_seen, "lr_scale": self.lr_scale,
                "rollbacks": self.rollbacks,
            }
            if self.rt.distributed:
                state["ranks"] = ranks
            meta = {"recipe": self.cfg.recipe, "images_seen": self.images_seen,
                    "data_shape": list(self.data_shape), "num_classes": self.num_classes,
                    "family": self.cfg.family["name"], "generator": self.cfg.generator["name"],
                    "processes": self.rt.world_size, "provenance": self.provenance}
            path = ckpt.save_checkpoint(self.run_dir, self.step, self.modules(), state, meta,
                                        keep=self.cfg.train.keep_ckpts)
        self.rt.barrier()
        return path

    def _rank_state(self) -> dict:
        """The random streams that differ between ranks, and the family's state (a family may
        keep statistics of its own rank's batches)."""
        state = {"noise_rng": self.noise.get_state(), "torch_rng": torch.get_rng_state(),
                 "family": self.family.state_dict()}
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def _restore(self) -> None:
        tensors, state, meta, path = ckpt.load_latest(self.run_dir)
        # The hash proves the file is intact, not that it was written by this trainer: any
        # missing or malformed entry is a CheckpointError, never a crash halfway through loading.
        try:
            self.G.load_state_dict(tensors["G"])
            self.D.load_state_dict(tensors["D"])
            if self.ema is not None:
                self.ema.module.load_state_dict(tensors.get("G_ema", tensors["G"]))
            for phase in self.phases:
                phase.load_state_dict(state)
            self.batches.load_state_dict(state["batches"])
            self.step, self.images_seen = int(state["step"]), int(state["images_seen"])
            self._restore_rank_state(state, path)
            self.lr_scale = float(state.get("lr_scale", 1.0))
            self.rollbacks = int(state.get("rollbacks", 0))
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as e:
            raise CheckpointError(f"{path} does not fit this run's trainer: "
                                  f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
        self.log.truncate_after(self.step) if self.rt.is_main else None

    def _restore_rank_state(self, state: dict, path: Path) -> None:
        ranks = state.get("ranks") or [state]
        rt = self.rt
        if len(ranks) != rt.world_size and rt.is_main:
            warnings.warn(f"{path} was written by {len(ranks)} process(es) and resumes with "
                          f"{rt.world_size}: training continues, but not exactly as the "
                          "uninterrupted run would have")
        if rt.rank >= len(ranks):  # a rank the checkpoint never had: rank 0's family state,
            self.family.load_state_dict(ranks[0]["family"])  # fresh seeded noise
            self.noise.manual_seed(seed64(self.cfg.train.seed * 7919 + 1 + rt.rank + 104729 * self.step))
            return
        own = ranks[rt.rank]
        self.family.load_state_dict(own["family"])
        self.noise.set_state(own["noise_rng"])
        torch.set_rng_state(own["torch_rng"])
        if "cuda_rng" in own and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(own["cuda_rng"])

    def _write_rank_dump(self, folder: Path) -> None:
        """GANFORGE_DEBUG_RANK_DUMP: this rank's view of the run, for checking DDP from outside."""
        def digest(tensors) -> str:
            h = hashlib.sha256()
            for tensor in tensors:
                h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
            return h.hexdigest()
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "rank": self.rt.rank, "world_size": self.rt.world_size,
            "start_step": self.start_step, "step": self.step,
            "params_sha256": digest([p for m in (self.G, self.D) for p in m.parameters()]),
            "buffers_sha256": digest([b for m in (self.G, self.D) for b in m.buffers()
                                      if b.is_floating_point()]),
            "indices": self.batches.consumed,
        }
        atomic_write_text(folder / f"rank-{self.rt.rank}.json", json.dumps(record))


def _sample_shape(dataset) -> tuple[int, ...]:
    if isinstance(dataset, ImageStream):
        return (dataset.channels, dataset.image_size, dataset.image_size)
    if hasattr(dataset, "points"):
        return (dataset.points.shape[1],)
    return tuple(dataset.images.shape[1:])


def _in_memory(dataset) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(samples, labels) of an in-memory dataset: uint8 images or float points."""
    return (dataset.points if hasattr(dataset, "points") else dataset.images), dataset.labels


def _full_precision_output(module, inputs, output):
    if isinstance(output, torch.Tensor) and output.is_floating_point():
        return output.float()
    return output
