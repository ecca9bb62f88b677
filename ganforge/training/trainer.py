"""The training loop. It knows nothing family-specific: the family computes each step's losses,
the trainer owns data, optimisers, precision, EMA, sample grids, checkpoints and the log."""
from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import torch
from tqdm import tqdm

from ..config import Config, from_dict
from ..data import load_dataset
from ..data.batches import InMemoryBatches
from ..errors import CheckpointError, ConfigError, GanforgeError
from ..images import grid_image, save_png
from ..io import atomic_write_json, atomic_write_text
from ..nn.ema import ExponentialMovingAverage, ema_decay_from_half_life
from . import checkpoint as ckpt
from .build import build_components
from .control import TrainingControl
from .logbook import MetricsLog, StatsAccumulator
from .runtime import resolve_runtime

CONFIG_FILE = "config.json"


class Trainer:
    def __init__(self, cfg: Config, run_dir: Path, resume: bool = False):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        t = cfg.train
        self.rt = resolve_runtime(t.device, t.precision, t.threads)
        self.dataset = load_dataset(cfg.data.source, image_size=cfg.data.image_size,
                                    channels=cfg.data.channels, skip_bad=cfg.data.skip_bad,
                                    seed=t.seed, toy_samples=cfg.data.toy_samples)
        data, labels, self.data_shape = _tensors(self.dataset)
        self.num_classes = self.dataset.num_classes
        parts = build_components(cfg, self.data_shape, self.num_classes, t.seed)
        self.family, self.G, self.D = parts.family, parts.G.to(self.rt.device), parts.D.to(self.rt.device)
        self.opt_g = _optimizer(cfg, self.family.g_parameters(self.G, self.D), cfg.optim.g_lr)
        self.opt_d = _optimizer(cfg, self.family.d_parameters(self.G, self.D), cfg.optim.d_lr)
        self.ema = ExponentialMovingAverage(self.G) if t.ema else None
        self.batches = InMemoryBatches(data, labels, t.batch_size, t.seed, self.rt.device,
                                       self.rt.rank, self.rt.world_size)
        # One noise stream per rank, seeded, saved in checkpoints: resume continues it exactly.
        self.noise = torch.Generator(self.rt.device).manual_seed(t.seed * 7919 + 1 + self.rt.rank)
        self.fixed = self.family.sample_latent(
            min(t.grid_size, 256), self.G.noise_dim, self.rt.device,
            torch.Generator(self.rt.device).manual_seed(t.seed + 12345),
            labels=self._grid_labels(min(t.grid_size, 256)))
        self.step, self.images_seen = 0, 0
        self.lr_scale, self.rollbacks = 1.0, 0  # lowered by divergence rollbacks
        self.control = TrainingControl(self)
        self.log = MetricsLog(self.run_dir / "metrics.jsonl", self.rt.is_main)
        if resume:
            self._restore()
        elif self.rt.is_main:
            atomic_write_text(self.run_dir / CONFIG_FILE, cfg.to_json())
            atomic_write_json(self.run_dir / "data.json", {
                "source": cfg.data.source, "samples": int(data.shape[0]),
                "shape": list(self.data_shape), "num_classes": self.num_classes,
                "skipped": int(getattr(self.dataset, "skipped", 0))})

    # ------------------------------------------------------------------ the loop
    def train(self) -> Path:
        t, fam = self.cfg.train, self.family
        stats = StatsAccumulator()
        bar = tqdm(total=t.steps, initial=self.step, disable=not (t.progress and self.rt.is_main),
                   dynamic_ncols=True, unit="step")
        interval_start, interval_images = time.perf_counter(), 0
        while self.step < t.steps:
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
                if bad:
                    self._diverged(bad)
                    stats = StatsAccumulator()
                    bar.n = self.step
                    interval_start, interval_images = time.perf_counter(), 0
                    continue
                if logging:
                    bar.set_postfix_str(f"img/s {record['img_per_s']:.0f}  D {record.get('d_loss', 0):.3f}"
                                        f"  G {record.get('g_loss', 0):.3f}")
                    interval_start, interval_images = time.perf_counter(), 0
            if self.rt.is_main and (self.step % t.sample_every == 0 or self.step == t.steps):
                self.write_grid()
            if t.eval_every and (self.step % t.eval_every == 0 or self.step == t.steps):
                self.periodic_eval()
            if saving:
                self.save()
            bar.update(1)
        bar.close()
        return self.run_dir

    def _train_step(self, stats: StatsAccumulator) -> None:
        fam, rt = self.family, self.rt
        fam.before_step(self.control)
        B, accumulate = self.batches.batch_size, self.cfg.train.accumulate
        reuse = fam.reuses_fakes and accumulate == 1
        kept = None  # (latent, fakes) from the D step, reused by the G step when allowed
        for _ in range(fam.d_steps_at(self.step)):
            self.opt_d.zero_grad(set_to_none=True)
            for _ in range(accumulate):
                reals, labels = self.batches.next()
                reals = fam.prepare_reals(reals)
                latent = fam.sample_latent(B, self.G.noise_dim, rt.device, self.noise)
                with rt.autocast():
                    if reuse:
                        fakes = fam.generate(self.G, latent)
                        kept, d_fakes = (latent, fakes), fakes.detach()
                    else:
                        with torch.no_grad():
                            d_fakes = fam.generate(self.G, latent)
                    d_loss, d_stats = fam.d_loss(self.D, reals, labels, d_fakes, latent, self.noise)
                (d_loss / accumulate).backward()
                stats.add(d_stats)
                self.images_seen += B * rt.world_size
            self.opt_d.step()
            fam.after_d_step(self.D)
        self.opt_g.zero_grad(set_to_none=True)
        for _ in range(accumulate):
            with rt.autocast():
                if kept is not None:
                    latent, fakes = kept
                else:
                    latent = fam.sample_latent(B, self.G.noise_dim, rt.device, self.noise)
                    fakes = fam.generate(self.G, latent)
                g_loss, g_stats = fam.g_loss(self.D, fakes, latent)
            (g_loss / accumulate).backward()
            stats.add(g_stats)
        self.opt_g.step()
        if self.ema is not None:
            t = self.cfg.train
            decay = 0.0 if self.step < t.ema_start_step else ema_decay_from_half_life(
                B * accumulate * rt.world_size, t.ema_half_life_kimg * 1000)
            self.ema.update(self.G, decay)

    # ------------------------------------------------------------------ schedule controls
    def set_batch_size(self, n: int) -> None:
        self.batches.set_batch_size(n)

    def reset_optimizers(self) -> None:
        self.opt_g = _optimizer(self.cfg, self.family.g_parameters(self.G, self.D), self._lr("g"))
        self.opt_d = _optimizer(self.cfg, self.family.d_parameters(self.G, self.D), self._lr("d"))

    def _lr(self, which: str) -> float:
        base = self.cfg.optim.g_lr if which == "g" else self.cfg.optim.d_lr
        return base * self.lr_scale

    # ------------------------------------------------------------------ outputs
    def _log(self, stats: StatsAccumulator, img_per_s: float) -> tuple[dict, list[str]]:
        means = stats.means()
        record = {"step": self.step, "images_seen": self.images_seen,
                  "img_per_s": round(img_per_s, 2), **{k: round(v, 6) for k, v in means.items()}}
        self.log.write(record)
        return record, [k for k, v in means.items() if not math.isfinite(v)]

    def _nonfinite_weights(self) -> list[str]:
        params = [p for m in (self.G, self.D) for p in m.parameters()]
        finite = torch.stack([p.detach().isfinite().all() for p in params]).all()
        return [] if bool(finite) else ["weights"]

    def _diverged(self, bad: list[str]) -> None:
        """NaN/Inf seen: stop with a clear message, or roll back to the last checkpoint with a
        lower learning rate. A non-finite state is never checkpointed."""
        t = self.cfg.train
        what = f"training diverged at step {self.step}: {', '.join(bad)} became NaN/Inf"
        can_roll = t.on_nan == "rollback" and self.rollbacks < t.max_rollbacks
        if not can_roll or not ckpt.checkpoint_dirs(self.run_dir):
            hint = (f"; the last good checkpoint is in {self.run_dir / ckpt.CKPT_DIR}"
                    if ckpt.checkpoint_dirs(self.run_dir) else "")
            if t.on_nan == "rollback" and self.rollbacks >= t.max_rollbacks:
                hint += f" (gave up after {self.rollbacks} rollbacks)"
            raise GanforgeError(what + hint)
        self.rollbacks += 1
        self._restore()
        self.lr_scale *= t.nan_lr_factor
        for opt, which in ((self.opt_g, "g"), (self.opt_d, "d")):
            for group in opt.param_groups:
                group["lr"] = self._lr(which)
        warnings.warn(f"{what}; rolled back to step {self.step} with learning rates x{self.lr_scale:g}")
        self.log.write({"step": self.step, "event": "rollback", "lr_scale": self.lr_scale})

    def periodic_eval(self) -> None:
        """train.eval_every: metrics in the log, the best checkpoint kept (see ganforge.metrics)."""
        from ..metrics.evaluate import evaluate_during_training
        record = evaluate_during_training(self)
        if record and self.rt.is_main:
            self.log.write({"step": self.step, **record})

    @property
    def sampling_generator(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.G

    @torch.no_grad()
    def write_grid(self) -> Path:
        G = self.sampling_generator
        was_training = G.training
        G.eval()
        samples = self.family.generate(G, self.fixed).float()
        G.train(was_training)
        nrow = self.num_classes if self._conditional_grid() else None
        path = self.run_dir / "samples" / f"step-{self.step:08d}.png"
        save_png(grid_image(samples, nrow=nrow, scale=2 if self.data_shape[-1] <= 32 else 1), path)
        save_png(grid_image(samples, nrow=nrow, scale=2 if self.data_shape[-1] <= 32 else 1),
                 self.run_dir / "samples" / "latest.png")
        return path

    def _conditional_grid(self) -> bool:
        return getattr(self.G, "conditioning", "none") != "none" and self.num_classes > 1

    def _grid_labels(self, n: int) -> torch.Tensor | None:
        """Conditional models: rows of the grid are classes."""
        if not self._conditional_grid():
            return None
        return torch.arange(n, device=self.rt.device) // max(1, n // self.num_classes) % self.num_classes

    # ------------------------------------------------------------------ checkpoints
    def modules(self) -> dict:
        return {"G": self.G, "D": self.D, "G_ema": self.ema.module if self.ema else None}

    def save(self) -> Path | None:
        if not self.rt.is_main:
            return None
        state = {
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "family": self.family.state_dict(), "batches": self.batches.state_dict(),
            "noise_rng": self.noise.get_state(), "torch_rng": torch.get_rng_state(),
            "step": self.step, "images_seen": self.images_seen, "lr_scale": self.lr_scale,
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        meta = {"recipe": self.cfg.recipe, "images_seen": self.images_seen,
                "data_shape": list(self.data_shape), "num_classes": self.num_classes,
                "family": self.cfg.family["name"], "generator": self.cfg.generator["name"]}
        return ckpt.save_checkpoint(self.run_dir, self.step, self.modules(), state, meta,
                                    keep=self.cfg.train.keep_ckpts)

    def _restore(self) -> None:
        tensors, state, meta, path = ckpt.load_latest(self.run_dir)
        try:
            self.G.load_state_dict(tensors["G"])
            self.D.load_state_dict(tensors["D"])
            if self.ema is not None:
                self.ema.module.load_state_dict(tensors.get("G_ema", tensors["G"]))
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
        except (KeyError, RuntimeError, ValueError) as e:
            raise CheckpointError(f"{path} does not fit this run's models: {str(e).splitlines()[0]}") from None
        self.family.load_state_dict(state["family"])
        self.batches.load_state_dict(state["batches"])
        self.noise.set_state(state["noise_rng"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step, self.images_seen = int(state["step"]), int(state["images_seen"])
        self.lr_scale = float(state.get("lr_scale", 1.0))
        self.log.truncate_after(self.step) if self.rt.is_main else None


def _tensors(dataset) -> tuple[torch.Tensor, torch.Tensor | None, tuple[int, ...]]:
    if hasattr(dataset, "points"):
        return dataset.points, dataset.labels, (dataset.points.shape[1],)
    return dataset.images, dataset.labels, tuple(dataset.images.shape[1:])


def _optimizer(cfg: Config, params, lr: float) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(o.betas), eps=o.eps, foreach=True)
    if o.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, eps=o.eps, foreach=True)
    raise ConfigError(f"optim.name must be adam or rmsprop, got '{o.name}'")


def read_run_config(run_dir: Path) -> Config:
    import json
    path = Path(run_dir) / CONFIG_FILE
    if not Path(run_dir).is_dir():
        raise GanforgeError(f"run directory {run_dir} does not exist")
    if not path.is_file():
        raise CheckpointError(f"{run_dir} is not a ganforge run directory (no {CONFIG_FILE})")
    try:
        return from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path} is unreadable: {e}") from None
