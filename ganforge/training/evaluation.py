"""train.eval_every: metrics of the sampling generator during training, and the best generator
(lowest FID so far) kept in the run directory."""
from __future__ import annotations

import math

import torch

from .. import run
from ..config import Config
from ..metrics.evaluate import evaluate_model, resolve_extractor


class PeriodicEvaluation:
    """Evaluates with cfg.eval's metrics, extractor and n. Runs on rank 0 only, with its own
    seeded noise and the global RNG state restored, so a resumed run continues exactly as an
    uninterrupted one. The feature extractor is built on first use and kept."""

    def __init__(self, cfg: Config, run_dir, device: torch.device):
        self.cfg, self.run_dir, self.device = cfg, run_dir, device
        self._extractor = None

    def __call__(self, G, family, dataset, step: int, images_seen: int, ema: bool) -> dict:
        """{"eval/<metric>": value, ..., "eval/extractor": name}; when FID improves on the
        run's best, G's weights become the new best generator."""
        cfg, device = self.cfg, self.device
        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            extractor = None if hasattr(dataset, "points") else self.extractor()
            result = evaluate_model(G, family, device, dataset, extractor, cfg.eval.metrics, cfg.eval.n,
                                    seed=cfg.train.seed, source=cfg.data.source)
        record = {f"eval/{k}": v for k, v in result.items() if k not in ("baseline", "seed")}
        record.update({f"eval/baseline_{k}": v for k, v in result.get("baseline", {}).items()})
        if "fid" in result:
            record["eval/best_fid"] = self._keep_best(G, result, step, images_seen, ema)
        return record

    def extractor(self):
        if self._extractor is None:
            self._extractor = resolve_extractor(self.cfg.eval.extractor, self.cfg.data.source, self.device)
        return self._extractor

    def _keep_best(self, G, result: dict, step: int, images_seen: int, ema: bool) -> float:
        """Replace the run's best generator when this FID beats it (measured with the same
        extractor and n); returns the best FID so far."""
        best = run.best_record(self.run_dir)
        comparable = (best is not None and best.get("extractor") == result["extractor"]
                      and best.get("n") == result["n"] and isinstance(best.get("fid"), (int, float)))
        fid = float(result["fid"])
        if not math.isfinite(fid) or (comparable and fid >= best["fid"]):
            return float(best["fid"]) if comparable else float("nan")
        state = {k.replace("_orig_mod.", ""): v.detach().cpu().clone().contiguous()
                 for k, v in G.state_dict().items()}
        run.write_best_generator(self.run_dir, state, {
            "step": step, "images_seen": images_seen, "fid": fid, "extractor": result["extractor"],
            "n": result["n"], "ema": ema})
        return fid
