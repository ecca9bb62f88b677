"""Training curves from a run's metrics.jsonl: `ganforge plot RUN` writes RUN/plots/*.png.

Which figures appear is decided by the keys the log holds, so every family gets its own
statistics drawn without this module naming families: losses and their terms, D(x) and D(G(z)),
periodic evaluation (FID, KID, ... with the real-vs-real baseline dashed), BEGAN's k_t and
M_global, PGGAN's resolution and fade-in alpha, ADA's augmentation probability, throughput, and
any other statistic a family logs.
"""
from __future__ import annotations

import re
import threading
from pathlib import Path

from .. import run
from ..errors import GanforgeError
from ..training.logbook import read_metrics
from .plotting import Panel, Series, write_figure

_BOOKKEEPING = {"step", "images_seen", "time", "event", "lr_scale"}
_LOSS_TERM = re.compile(r"^(?:[dg]_(?!loss$|real$|fake$).+|gp|drift|l_real|l_fake|mi_.+)$")

# (figure, panel title, keys drawn in it with their legend names), in the order shown.
_PANELS: list[tuple[str, str, dict[str, str]]] = [
    ("losses", "losses", {"d_loss": "D", "g_loss": "G"}),
    ("discriminator", "D(x) and D(G(z))", {"d_real": "D(x)", "d_fake": "D(G(z))"}),
    ("discriminator", "D's class accuracy on reals", {"cls_acc": "accuracy"}),
    ("began", "k_t (equilibrium control)", {"k": "k_t"}),
    ("began", "M_global (convergence)", {"m_global": "M_global"}),
    ("growth", "resolution", {"resolution": "resolution"}),
    ("growth", "fade-in alpha", {"alpha": "alpha"}),
    ("augmentation", "augmentation probability p (ADA)", {"aug_p": "p"}),
    ("speed", "images per second", {"img_per_s": "img/s"}),
]
_TITLES = {"losses": "losses", "discriminator": "discriminator outputs", "began": "BEGAN equilibrium",
           "growth": "progressive growing", "augmentation": "adaptive augmentation",
           "eval": "periodic evaluation", "speed": "throughput", "other": "other statistics"}


def read_records(run_dir: Path) -> tuple[list[dict], list[dict], list[float]]:
    """(training records, evaluation records, steps of rollbacks) from RUN/metrics.jsonl."""
    records = read_metrics(run.metrics_path(run_dir))
    training = [r for r in records if "event" not in r and not any(k.startswith("eval/") for k in r)]
    evals = [r for r in records if any(k.startswith("eval/") for k in r)]
    rollbacks = [float(r["step"]) for r in records if r.get("event") == "rollback"]
    for r in training:  # PGGAN logs its stage; the resolution is what a reader wants to see
        if "stage" in r and isinstance(r["stage"], (int, float)):
            r["resolution"] = 4 * 2 ** round(r["stage"])
    return training, evals, rollbacks


def curve_figures(run_dir: Path) -> dict[str, list[Panel]]:
    """{figure name: its panels}, only for figures whose keys the log holds."""
    training, evals, rollbacks = read_records(run_dir)
    figures: dict[str, list[Panel]] = {}
    claimed = {"stage"}
    for figure, title, keys in _PANELS:
        series = [_series(training, key, label) for key, label in keys.items()]
        series = [s for s in series if s.x]
        claimed.update(keys)
        if series:
            figures.setdefault(figure, []).append(Panel(title, series, marks=rollbacks))
    terms = sorted({k for r in training for k in r if _LOSS_TERM.match(k) and _numeric(r[k])})
    if terms:
        figures.setdefault("losses", []).append(
            Panel("loss terms", [_series(training, k, k) for k in terms], marks=rollbacks))
        claimed.update(terms)
    if evals:
        figures["eval"] = _eval_panels(evals)
    others = sorted({k for r in training for k in r
                     if k not in claimed and k not in _BOOKKEEPING and _numeric(r[k])})
    if others:
        figures["other"] = [Panel(k, [_series(training, k, k)], marks=rollbacks) for k in others]
    return figures


def _eval_panels(evals: list[dict]) -> list[Panel]:
    """One panel per metric, its standard deviation (KID's, over subsets) as a band; the
    real-vs-real baseline dashed, FID's best-so-far beside it."""
    skip = ("eval/best_fid", "eval/n", "eval/n_real")
    metrics = sorted({k[5:] for r in evals for k in r if k.startswith("eval/") and _numeric(r[k])
                      and not k.startswith("eval/baseline_") and not k.endswith("_std")
                      and k not in skip})
    panels = []
    for m in metrics:
        main = _series(evals, f"eval/{m}", m)
        std = _series(evals, f"eval/{m}_std", "")
        if std.x == main.x and std.x:
            main.spread = std.y
        series = [main]
        baseline = _series(evals, f"eval/baseline_{m}", "real vs real", dashed=True)
        if baseline.x:
            series.append(baseline)
        if m == "fid":
            best = _series(evals, "eval/best_fid", "best so far", dashed=True)
            if best.x:
                series.append(best)
        panels.append(Panel(m.upper() if len(m) <= 3 else m, series))
    return panels


def _extractor(evals: list[dict]) -> str:
    return next((r["eval/extractor"] for r in reversed(evals) if "eval/extractor" in r), "")


def _numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _series(records: list[dict], key: str, label: str, dashed: bool = False) -> Series:
    points = [(r["step"], float(r[key])) for r in records if key in r and _numeric(r.get(key))]
    return Series(label, [p[0] for p in points], [p[1] for p in points], dashed)


def write_training_plots(run_dir: str | Path) -> list[Path]:
    """Write RUN/plots/<figure>.png for every figure the log supports; return their paths."""
    run_dir = Path(run_dir)
    if not run.metrics_path(run_dir).is_file():
        what = "does not exist" if not run_dir.is_dir() else f"has no {run.METRICS_FILE} yet"
        raise GanforgeError(f"{run_dir} {what}: nothing to plot")
    out = []
    extractor = _extractor(read_records(run_dir)[1])
    for name, panels in curve_figures(run_dir).items():
        title = f"{run_dir.name}: {_TITLES.get(name, name)}"
        if name == "eval" and extractor:
            title += f" (features: {extractor})"
        out.append(write_figure(panels, run.plots_dir(run_dir) / f"{name}.png", title=title))
    return out


class LivePlots:
    """A run's training plots kept current for the explorer: redrawn when metrics.jsonl has
    changed since the last drawing (the run may still be training), else reused."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.stamp: tuple[int, int] | None = None
        self.names: list[str] = []
        self.version = 0
        self.lock = threading.Lock()

    def current(self) -> tuple[int, list[str]]:
        """(version, figure names); the version changes whenever the figures were redrawn."""
        with self.lock:
            try:
                info = run.metrics_path(self.run_dir).stat()
                stamp = (info.st_mtime_ns, info.st_size)
            except OSError:
                return self.version, self.names
            if stamp != self.stamp:
                self.names = [p.stem for p in write_training_plots(self.run_dir)]
                self.stamp, self.version = stamp, self.version + 1
            return self.version, list(self.names)

    def path(self, name: str) -> Path | None:
        """The PNG of figure `name`, or None when there is no such figure (never a free path)."""
        with self.lock:
            return run.plots_dir(self.run_dir) / f"{name}.png" if name in self.names else None
