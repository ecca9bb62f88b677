"""Train the `pggan-mnist` recipe (4 -> 8 -> 16 -> 32 on the bundled digits) and save its final
sample grid and growth sheet to docs/img/.

    python benchmarks/pggan_mnist.py [--out runs/pggan-mnist-bench] [--threads 2] [--set KEY=VALUE ...]

Writes docs/img/pggan-mnist.png (64 samples of the EMA generator at 32x32) and
docs/img/pggan-mnist-growth.png (8 fixed latents, one column per stage, enlarged to 32x32).
The growth sheet needs the per-stage snapshots the PGGAN family writes into RUN/growth/.
"""

import argparse
import time
from pathlib import Path

import torch

from ganforge import api
from ganforge.config import resolve
from ganforge.explore.growth import growth_sheet
from ganforge.images import grid_image, save_png
from ganforge.training.control import TrainingControl

DOCS = Path(__file__).resolve().parent.parent / "docs" / "img"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/pggan-mnist-bench", help="run directory (must not exist)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="extra config overrides, e.g. --set train.steps=500")
    parser.add_argument("--docs", default=str(DOCS), help="where the two PNG files go")
    args = parser.parse_args()
    if not hasattr(TrainingControl, "run_dir"):
        print("note: this trainer does not give families the run directory, so no per-stage "
              "snapshots are written and the growth sheet shows the last stage only")

    cfg = resolve("pggan-mnist", [f"train.threads={args.threads}", f"train.seed={args.seed}", *args.set])
    start = time.perf_counter()
    run = api.train(cfg, out=args.out)
    seconds = time.perf_counter() - start

    g = api.load(run)
    docs = Path(args.docs)
    samples = g.sample(64, seed=0)
    save_png(grid_image(samples, scale=2), docs / "pggan-mnist.png")
    growth_sheet(g, docs / "pggan-mnist-growth.png", seed=0, n=8)
    print(f"pggan-mnist: {cfg.train.steps} steps, {g.step} done, final resolution "
          f"{samples.shape[-1]}x{samples.shape[-1]}, {seconds / 60:.1f} min on {args.threads} thread(s)")
    print(f"run directory: {run}")
    print(f"wrote {docs / 'pggan-mnist.png'} and {docs / 'pggan-mnist-growth.png'}")


if __name__ == "__main__":
    main()
