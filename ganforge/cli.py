"""Command line: parse flags, call the API, print. Errors the user can fix print as one line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import GanforgeError


def _cmd_train(args) -> None:
    from . import api
    from .config import parse_set_args, resolve
    if args.resume:
        sets = parse_set_args(args.set)
        if args.data:
            raise GanforgeError("--data cannot change on --resume (the run keeps its dataset)")
        run = api.resume(args.resume, sets, recipe=args.recipe)
    else:
        cfg = resolve(args.recipe or "dcgan", args.set, args.data)
        run = api.train(cfg, out=args.out, runs_root=args.runs)
    print(f"run directory: {run}")
    print(f"samples: {Path(run) / 'samples' / 'latest.png'}")


def _cmd_recipes(args) -> None:
    from .config import recipe_names, recipe_table
    for name in recipe_names():
        print(f"{name:<16} {recipe_table(name).get('description', '')}")


def _cmd_sample(args) -> None:
    from .api import load
    from .sampling import write_samples
    g = load(args.run, device=args.device)
    labels = [int(x) for x in args.labels.split(",")] if args.labels else None
    out = write_samples(g, args.n, args.seed, args.out, args.format, labels=labels,
                        truncation=args.truncation, class_grid=args.class_grid)
    print(f"wrote {out}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganforge", description="Train, evaluate and explore GANs.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a recipe (default: dcgan on the bundled MNIST digits)")
    t.add_argument("--recipe", help="recipe name (see `ganforge recipes`); default dcgan")
    t.add_argument("--data", help="data source: mnist, digits, ring8, grid25, stacked-mnist, or a path")
    t.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any config field, e.g. --set train.steps=500")
    t.add_argument("--out", help="run directory (default: runs/<recipe>-NNN)")
    t.add_argument("--runs", default="runs", help="where auto-numbered run directories go")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest checkpoint")
    t.set_defaults(func=_cmd_train)

    r = sub.add_parser("recipes", help="list the recipes")
    r.set_defaults(func=_cmd_recipes)

    s = sub.add_parser("sample", help="write samples from a trained run")
    s.add_argument("run", help="run directory")
    s.add_argument("-n", type=int, default=64, help="number of samples")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="samples.png", help="output file or folder")
    s.add_argument("--format", choices=["png", "png-dir", "npz"], default="png")
    s.add_argument("--labels", help="class labels for conditional models, e.g. 0,1,2 (cycled)")
    s.add_argument("--class-grid", action="store_true", help="conditional models: one row per class")
    s.add_argument("--truncation", type=float, default=None, help="truncation threshold (> 0)")
    s.add_argument("--device", default="cpu")
    s.set_defaults(func=_cmd_sample)
    return p


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    import warnings
    warnings.formatwarning = _one_line_warning  # no source lines for users
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        args.func(args)
    except GanforgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; a run continues from its last checkpoint with "
              "`ganforge train --resume RUN_DIR`", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
