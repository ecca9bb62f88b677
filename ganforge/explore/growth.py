"""PGGAN's growth sheet: one set of latents drawn through the generator as it was at the end of
every stage (the snapshots the trainer keeps in the run directory) and as it is now."""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from .. import run, safe_files
from ..errors import CheckpointError, GanforgeError
from ..images import make_grid, save_png, to_pil
from ..limits import memory_budget
from ..models.pggan import PGGANGenerator


@torch.no_grad()
def growth_sheet(g, out_png: str | Path, seed: int = 0, n: int = 8) -> Path:
    """One row per latent (n latents drawn from `seed`), one column per stage: the end-of-stage
    snapshots of the loaded run `g` (ganforge.api.load), then its newest checkpoint. Every image
    is enlarged (nearest) to the final resolution so the columns line up."""
    run_dir, G = g.run_dir, g.G
    if not isinstance(G, PGGANGenerator):
        raise GanforgeError(f"{run_dir} is not a PGGAN run (generator '{g.cfg.generator['name']}')")
    latent = g.latent(n, seed)
    newest = {k: v.clone() for k, v in G.state_dict().items()}
    final_stage = G.current_stage
    columns = []
    paths = run.growth_snapshots(run_dir)
    if not paths:
        warnings.warn(f"no per-stage snapshots in {run.growth_dir(run_dir)}: "
                      "the sheet shows the newest checkpoint only")
    try:
        for path in paths:
            safe_files.regular_file_inside(path, run_dir, memory_budget())
            try:
                G.load_state_dict(load_file(str(path)))
            except Exception as e:
                raise CheckpointError(f"{path} does not fit this run's generator: {e}") from None
            if G.current_stage < final_stage:
                columns.append(g.generate(latent))
    finally:
        G.load_state_dict(newest)
    columns.append(g.generate(latent))
    size = g.data_shape[-1]
    columns = [F.interpolate(c, size=(size, size), mode="nearest") for c in columns]
    sheet = torch.stack(columns, dim=1).flatten(0, 1)  # row-major: latent i, then its stages
    out = Path(out_png)
    save_png(to_pil(make_grid(sheet, nrow=len(columns)), scale=2 if size <= 32 else 1), out)
    return out
