"""Line charts as PNG files, drawn with matplotlib: the one plotting code behind `ganforge plot`'s
training curves, the explorer's curves and the truncation sweep.

matplotlib is an optional extra (`pip install 'ganforge[plot]'`). Figures are built with the
object API and the Agg canvas, never pyplot: no global figure state, safe in the explorer's
worker threads.
"""
from __future__ import annotations

import io
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GanforgeError
from ..io import atomic_write_bytes


@dataclass
class Series:
    label: str
    x: list[float]
    y: list[float]
    dashed: bool = False
    spread: list[float] | None = None  # a standard deviation drawn as a band around y


@dataclass
class Panel:
    title: str
    series: list[Series]
    xlabel: str = "step"
    x_ticks: list[str] | None = None   # category names at x = 0, 1, ...; None: numeric x
    marks: list[float] = field(default_factory=list)  # vertical lines (e.g. rollbacks)


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise GanforgeError("plots need matplotlib: pip install 'ganforge[plot]'") from None
    return Figure, FigureCanvasAgg


PANEL_INCHES = (4.2, 3.1)
TITLE_CHARS_PER_INCH = 9  # the suptitle's font: a longer line runs off a narrow figure's edges


def figure(panels: list[Panel], title: str = "", columns: int = 3):
    """One matplotlib figure of `panels` side by side (wrapping after `columns`); a title longer
    than the figure is wide is broken into lines (a one-panel figure is ~38 characters wide)."""
    Figure, FigureCanvasAgg = _matplotlib()
    columns = max(1, min(columns, len(panels)))
    rows = math.ceil(len(panels) / columns)
    width = PANEL_INCHES[0] * columns
    lines = textwrap.wrap(title, int(width * TITLE_CHARS_PER_INCH), break_on_hyphens=False) if title else []
    title_inches = 0.4 + 0.25 * (len(lines) - 1) if lines else 0.0  # each line past the first: 0.25
    fig = Figure(figsize=(width, PANEL_INCHES[1] * rows + title_inches), dpi=100,
                 layout="constrained")
    FigureCanvasAgg(fig)
    if lines:
        fig.suptitle("\n".join(lines))
    for i, panel in enumerate(panels):
        _draw(fig.add_subplot(rows, columns, i + 1), panel)
    return fig


def figure_png(panels: list[Panel], title: str = "", columns: int = 3) -> bytes:
    """`figure` as PNG bytes."""
    out = io.BytesIO()
    figure(panels, title, columns).savefig(out, format="png")
    return out.getvalue()


def write_figure(panels: list[Panel], path: str | Path, title: str = "", columns: int = 3) -> Path:
    atomic_write_bytes(Path(path), figure_png(panels, title, columns))
    return Path(path)


def _draw(ax, panel: Panel) -> None:
    ax.set_title(panel.title, fontsize=10)
    ax.set_xlabel(panel.xlabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, alpha=0.3)
    values = []
    for s in panel.series:
        # A NaN leaves a gap in the line (a score that could not be computed at that point).
        ax.plot(s.x, s.y, "--" if s.dashed else "-", marker="o" if len(s.x) <= 30 else None,
                markersize=3, linewidth=1.4, label=s.label)
        values += [v for v in s.y if math.isfinite(v)]
        if s.spread is not None:
            lo = [y - d for y, d in zip(s.y, s.spread)]
            hi = [y + d for y, d in zip(s.y, s.spread)]
            ax.fill_between(s.x, lo, hi, alpha=0.2)
    for x in panel.marks:
        ax.axvline(x, color="red", alpha=0.4, linewidth=1)
    if panel.x_ticks is not None:
        ax.set_xticks(range(len(panel.x_ticks)), panel.x_ticks)
    if values and min(values) >= 0:
        # Never a negative tick on a quantity that cannot be negative (FID, accuracy, rates).
        ax.set_ylim(bottom=max(0.0, ax.get_ylim()[0]))
    if len(panel.series) > 1:
        ax.legend(fontsize=8)
