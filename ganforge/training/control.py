"""The narrow view of a running trainer that a family's schedule may act on."""
from __future__ import annotations


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
        t.lr_scale *= factor
        for opt, which in ((t.opt_g, "g"), (t.opt_d, "d")):
            for group in opt.param_groups:
                group["lr"] = t._lr(which)
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
