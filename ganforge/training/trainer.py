"""The training loop. It knows nothing family-specific: the family computes each step's losses,
the trainer owns data, optimisers, precision, EMA, sample grids, checkpoints and the log."""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from ..collectives import mean_over_processes
from ..config import Config, from_dict
from ..data import load_dataset
from ..data.batches import ImageStream, InMemoryBatches, StreamingBatches, open_folder_stream
from ..errors import CheckpointError, ConfigError, GanforgeError
from ..images import grid_image, save_png
from ..io import atomic_write_json, atomic_write_text
from ..models.base import inference
from ..nn.ema import ExponentialMovingAverage, ema_decay_from_half_life
from . import checkpoint as ckpt
from .build import build_components
from .control import TrainingControl
from .logbook import MetricsLog, StatsAccumulator
from .runtime import GradientSync, compile_modules, resolve_runtime

CONFIG_FILE = "config.json"
# Debugging DDP: every rank writes DIR/rank-<r>.json at the end of train() with a hash of its
# weights and the dataset indices it consumed (see tests/scale/test_ddp.py).
RANK_DUMP_ENV = "GANFORGE_DEBUG_RANK_DUMP"


class Trainer:
    def __init__(self, cfg: Config, run_dir: Path, resume: bool = False):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        t, rt = cfg.train, resolve_runtime(cfg.train.device, cfg.train.precision, cfg.train.threads)
        self.rt = rt
        if t.sync_bn and rt.distributed and rt.device.type != "cuda":
            raise ConfigError("train.sync_bn needs CUDA devices: torch's SyncBatchNorm does not run on the CPU")
        stream = None if cfg.data.in_memory else open_folder_stream(
            cfg.data.source, cfg.data.image_size, cfg.data.channels)
        self.dataset = stream if stream is not None else load_dataset(
            cfg.data.source, image_size=cfg.data.image_size, channels=cfg.data.channels,
            skip_bad=cfg.data.skip_bad, seed=t.seed, toy_samples=cfg.data.toy_samples)
        data, labels, self.data_shape = _tensors(self.dataset)
        self.num_classes = self.dataset.num_classes
        parts = build_components(cfg, self.data_shape, self.num_classes, t.seed)
        G, D = parts.G, parts.D
        if t.sync_bn and rt.distributed:
            G, D = nn.SyncBatchNorm.convert_sync_batchnorm(G), nn.SyncBatchNorm.convert_sync_batchnorm(D)
        if rt.rank > 0:  # initialisation is shared; dropout and other global draws are per rank
            torch.manual_seed(t.seed * 7919 + rt.rank)
        # channels_last: the layout oneDNN (CPU) and tensor-core kernels (GPU) convolve fastest.
        self.channels_last = t.channels_last and len(self.data_shape) == 3
        for module in (G, D):
            module.to(rt.device)
            if self.channels_last:
                module.to(memory_format=torch.channels_last)
        self.family, self.G, self.D = parts.family, G, D
        if t.precision != "fp32":
            # Autocast leaves D's logits in bf16/fp16 on the CPU; the adversarial losses that
            # families compute from D(x) then run in full precision.
            D.register_forward_hook(_full_precision_output)
        self.ema = ExponentialMovingAverage(self.G) if t.ema else None  # before compiling G
        if t.compile:
            compile_modules([self.G, self.D], rt.device)
        self.opt_g = _optimizer(cfg, self.family.g_parameters(self.G, self.D), cfg.optim.g_lr)
        self.opt_d = _optimizer(cfg, self.family.d_parameters(self.G, self.D), cfg.optim.d_lr)
        self.sync_g, self.sync_d = GradientSync(_params(self.opt_g), rt), GradientSync(_params(self.opt_d), rt)
        # Parameters that train at all; each phase turns on only its own (see _train_only).
        self._trainable = [p for m in (self.G, self.D) for p in m.parameters() if p.requires_grad]
        self._training = "all"
        self.scaler_g, self.scaler_d = rt.grad_scaler(), rt.grad_scaler()
        if stream is None:
            self.batches = InMemoryBatches(data, labels, t.batch_size, t.seed, rt.device, rt.rank,
                                           rt.world_size)
        else:
            self.batches = StreamingBatches(stream, t.batch_size, t.seed, rt.device, rt.rank,
                                            rt.world_size, cfg.data.workers, cfg.data.skip_bad)
        self.rank_dump = os.environ.get(RANK_DUMP_ENV)
        if self.rank_dump:
            self.batches.consumed = []
        # One noise stream per rank, seeded, saved in checkpoints: resume continues it exactly.
        self.noise = torch.Generator(rt.device).manual_seed(t.seed * 7919 + 1 + rt.rank)
        grid_n = min(t.grid_size, 256)
        if self._conditional_grid() and grid_n >= self.num_classes:
            grid_n -= grid_n % self.num_classes  # full rows only: one class per row
        self.fixed = self.family.sample_latent(
            grid_n, self.G.noise_dim, rt.device, torch.Generator(rt.device).manual_seed(t.seed + 12345),
            labels=self._grid_labels(grid_n))
        self.step, self.images_seen = 0, 0
        self.lr_scale, self.rollbacks = 1.0, 0  # lowered by divergence rollbacks
        self.control = TrainingControl(self)
        self.log = MetricsLog(self.run_dir / "metrics.jsonl", rt.is_main)
        if resume:
            self._restore()
        elif rt.is_main:
            atomic_write_text(self.run_dir / CONFIG_FILE, cfg.to_json())
            atomic_write_json(self.run_dir / "data.json", {
                "source": cfg.data.source, "samples": len(self.dataset),
                "shape": list(self.data_shape), "num_classes": self.num_classes,
                "skipped": int(getattr(self.dataset, "skipped", 0)),
                "streamed": stream is not None, "processes": rt.world_size})
        self.start_step = self.step

    # ------------------------------------------------------------------ the loop
    def train(self, until: int | None = None) -> Path:
        """Train to train.steps, or only to step `until` (a benchmark's segment); the logs,
        grids and checkpoints due at train.steps are written when it is reached."""
        t = self.cfg.train
        stop = t.steps if until is None else min(until, t.steps)
        stats = StatsAccumulator()
        bar = tqdm(total=t.steps, initial=self.step, disable=not (t.progress and self.rt.is_main),
                   dynamic_ncols=True, unit="step")
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
        self._train_only("all")
        if self.rank_dump:
            self._write_rank_dump(Path(self.rank_dump))
        return self.run_dir

    def _train_step(self, stats: StatsAccumulator) -> None:
        """One generator update and the discriminator updates before it. Each optimiser's loss
        runs as one GradientSync call (DDP's forward when distributed); nothing here waits for
        the device: statistics stay tensors until a logging step reads them."""
        fam, rt, G, D = self.family, self.rt, self.G, self.D
        fam.before_step(self.control)
        B, accumulate = self.batches.batch_size, self.cfg.train.accumulate
        reuse = fam.reuses_fakes and accumulate == 1
        kept = None  # (latent, fakes) from the D step, reused by the G step when allowed
        for _ in range(fam.d_steps_at(self.step)):
            self.opt_d.zero_grad(set_to_none=True)
            for i in range(accumulate):
                reals, labels = self._next_reals()
                latent = fam.sample_latent(B, G.noise_dim, rt.device, self.noise)
                with self.sync_d.micro_batch(last=i == accumulate - 1):
                    with rt.autocast():
                        if reuse:
                            self._train_only("g")  # this forward's graph serves the G step
                            fakes = fam.generate(G, latent)
                            kept, d_fakes = (latent, fakes), fakes.detach()
                        else:
                            with torch.no_grad():
                                d_fakes = fam.generate(G, latent)
                        self._train_only("d")
                        d_loss, d_stats = self.sync_d(fam.d_loss, D, reals, labels, d_fakes, latent,
                                                      self.noise)
                    _backward(d_loss / accumulate, self.scaler_d)
                stats.add(d_stats)
                self.images_seen += B * rt.world_size
            _step(self.opt_d, self.scaler_d)
            fam.after_d_step(D)
        self._train_only("g")
        self.opt_g.zero_grad(set_to_none=True)
        for i in range(accumulate):
            with self.sync_g.micro_batch(last=i == accumulate - 1):
                with rt.autocast():
                    if kept is not None:
                        latent, fakes = kept
                        g_loss, g_stats = self.sync_g(fam.g_loss, D, fakes, latent)
                    else:
                        latent = fam.sample_latent(B, G.noise_dim, rt.device, self.noise)
                        g_loss, g_stats = self.sync_g(self._fresh_g_loss, latent)
                _backward(g_loss / accumulate, self.scaler_g)
            stats.add(g_stats)
        _step(self.opt_g, self.scaler_g)
        if self.ema is not None:
            t = self.cfg.train
            decay = 0.0 if self.step < t.ema_start_step else ema_decay_from_half_life(
                B * accumulate * rt.world_size, t.ema_half_life_kimg * 1000)
            self.ema.update(G, decay)

    def _train_only(self, phase: str) -> None:
        """Only the parameters of `phase`'s optimiser record gradients from here on (as in
        StyleGAN2-ADA): the G step's backward passes through D without computing D's weight
        gradients, which nothing would use, and no phase's backward touches parameters only the
        other phase updates (under DDP that would count as their gradient accumulation)."""
        if phase == self._training:
            return
        if phase == "all":  # between training calls: the models as they were built
            own = {id(p) for p in self._trainable}
        else:
            own = {id(p) for p in _params(self.opt_g if phase == "g" else self.opt_d)}
        for p in self._trainable:
            p.requires_grad_(id(p) in own)
        self._training = phase

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
        self.opt_g = _optimizer(self.cfg, self.family.g_parameters(self.G, self.D), self._lr("g"))
        self.opt_d = _optimizer(self.cfg, self.family.d_parameters(self.G, self.D), self._lr("d"))
        if not self.sync_g.covers(_params(self.opt_g)):
            self.sync_g = GradientSync(_params(self.opt_g), self.rt)
        if not self.sync_d.covers(_params(self.opt_d)):
            self.sync_d = GradientSync(_params(self.opt_d), self.rt)
        self._training = "changed"  # the next _train_only call sets every flag afresh

    def _lr(self, which: str) -> float:
        base = self.cfg.optim.g_lr if which == "g" else self.cfg.optim.d_lr
        return base * self.lr_scale

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
            hint = (f"; the last good checkpoint is in {self.run_dir / ckpt.CKPT_DIR}"
                    if ckpt.checkpoint_dirs(self.run_dir) else "")
            if t.on_nan == "rollback" and self.rollbacks >= t.max_rollbacks:
                hint += f" (gave up after {self.rollbacks} rollbacks)"
            raise GanforgeError(what + hint)
        # The checkpoint holds the scale and count from before this divergence: lower from the
        # current values so repeated rollbacks keep compounding.
        scale, count = self.lr_scale, self.rollbacks + 1
        self._restore()
        self.lr_scale, self.rollbacks = scale * t.nan_lr_factor, count
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

    def write_grid(self) -> Path:
        with inference(self.sampling_generator) as G:
            samples = self.family.generate(G, self.fixed).float()
        nrow = self._grid_columns(len(samples)) if self._conditional_grid() else None
        grid = grid_image(samples, nrow=nrow, scale=2 if self.data_shape[-1] <= 32 else 1)
        path = self.run_dir / "samples" / f"step-{self.step:08d}.png"
        save_png(grid, path)
        save_png(grid, self.run_dir / "samples" / "latest.png")
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
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "batches": self.batches.state_dict(), **ranks[0],
                "step": self.step, "images_seen": self.images_seen, "lr_scale": self.lr_scale,
                "rollbacks": self.rollbacks,
            }
            if self.rt.distributed:
                state["ranks"] = ranks
            for name, scaler in (("scaler_g", self.scaler_g), ("scaler_d", self.scaler_d)):
                if scaler is not None:
                    state[name] = scaler.state_dict()
            meta = {"recipe": self.cfg.recipe, "images_seen": self.images_seen,
                    "data_shape": list(self.data_shape), "num_classes": self.num_classes,
                    "family": self.cfg.family["name"], "generator": self.cfg.generator["name"],
                    "processes": self.rt.world_size}
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
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            self.batches.load_state_dict(state["batches"])
            for name, scaler in (("scaler_g", self.scaler_g), ("scaler_d", self.scaler_d)):
                if scaler is not None and name in state:
                    scaler.load_state_dict(state[name])
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
            self.noise.manual_seed(self.cfg.train.seed * 7919 + 1 + rt.rank + 104729 * self.step)
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


def _tensors(dataset) -> tuple[torch.Tensor | None, torch.Tensor | None, tuple[int, ...]]:
    """(samples, labels, shape of one sample); a streamed folder has no tensors in memory."""
    if isinstance(dataset, ImageStream):
        return None, None, (dataset.channels, dataset.image_size, dataset.image_size)
    if hasattr(dataset, "points"):
        return dataset.points, dataset.labels, (dataset.points.shape[1],)
    return dataset.images, dataset.labels, tuple(dataset.images.shape[1:])


def _full_precision_output(module, inputs, output):
    if isinstance(output, torch.Tensor) and output.is_floating_point():
        return output.float()
    return output


def _params(opt: torch.optim.Optimizer) -> list[nn.Parameter]:
    return [p for group in opt.param_groups for p in group["params"]]


def _backward(loss: torch.Tensor, scaler: torch.amp.GradScaler | None) -> None:
    (scaler.scale(loss) if scaler is not None else loss).backward()


def _step(opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None) -> None:
    if scaler is None:
        opt.step()
    else:  # skips the step when fp16 gradients overflowed, then adapts the scale
        scaler.step(opt)
        scaler.update()


def _optimizer(cfg: Config, params, lr: float) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.name == "adam":
        # fused: one kernel for all parameters on CPU and GPU; it also takes the fp16 gradient
        # scaler's inf check inside the kernel instead of reading it back to the host.
        return torch.optim.Adam(params, lr=lr, betas=tuple(o.betas), eps=o.eps, fused=True)
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
