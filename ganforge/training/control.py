"""The narrow view of a running trainer that a family's schedule may act on."""
from __future__ import annotations

from .. import run


class TrainingControl:
    def __init__(self, trainer):
        self._t = trainer

    @property
    def step(self) -> int:
        return self._t.step

    @property
    def images_seen(self) -> int:
        return self._t.images_seen

    @property
    def batch_size(self) -> int:
        return self._t.batches.batch_size

    def set_batch_size(self, n: int) -> None:
        self._t.set_batch_size(n)

    def reset_optimizers(self) -> None:
        """Fresh optimiser state (PGGAN resets Adam at each new resolution)."""
        self._t.reset_optimizers()

    def scale_lr(self, factor: float) -> None:
        """Multiply both learning rates by `factor` from now on (BEGAN halves them when its
        convergence measure stalls); the scale is saved in checkpoints."""
        t = self._t
        t.scale_lr(factor)
        t.log.write({"step": t.step, "event": "lr_scale", "lr_scale": t.lr_scale})

    def training_data(self):
        """(all training samples, their labels or None) as held on the device: uint8 images or
        float points, in the dataset's order (SGAN keeps its labelled subset from these)."""
        return self._t.batches.data, self._t.batches.labels

    @property
    def run_dir(self):
        """Where the run writes (None on ranks other than 0, which write nothing)."""
        return self._t.run_dir if self._t.rt.is_main else None

    @property
    def sampling_generator(self):
        """G as used for samples: the EMA copy when the run keeps one."""
        return self._t.sampling_generator

    def save_generator_snapshot(self, stage: int, resolution: int) -> None:
        """Keep the sampling generator as it is now as the snapshot of growth `stage` (PGGAN's
        end-of-stage pictures for the growth sheet); only the main process writes."""
        run_dir, G = self.run_dir, self.sampling_generator
        if run_dir is None or G is None:
            return
        state = {k: v.detach().cpu().contiguous().clone() for k, v in G.state_dict().items()}
        meta = {"stage": str(stage), "resolution": str(resolution),
                "images_seen": str(self.images_seen), "step": str(self.step)}
        run.write_growth_snapshot(run_dir, stage, state, meta)
