"""The explore subcommands of the `ganforge` CLI: interpolate, arithmetic, truncation, directions,
nearest, explore. `register(subparsers)` adds them; each handler parses, calls the explore API and
prints what it wrote."""
from __future__ import annotations

from ..errors import GanforgeError
from ..limits import check, check_truncation


def _ints(text: str, what: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise GanforgeError(f"{what} must be comma-separated integers, got '{text[:60]}'") from None
    for value in values:  # seeds or labels: both start at 0
        check("seed", value, what)
    return values


def _numbers(text: str, what: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise GanforgeError(f"{what} must be comma-separated numbers, got '{text}'") from None


def _floats(text: str, what: str) -> list[float | None]:
    """Thresholds: numbers, or none/off/0 for no truncation."""
    out = []
    for x in text.split(","):
        x = x.strip().lower()
        if x in ("none", "off", "0"):
            out.append(None)
            continue
        try:
            value = float(x)
        except ValueError:
            raise GanforgeError(f"{what} must be comma-separated numbers, got '{text}'") from None
        out.append(check_truncation(value, f"{what} threshold"))
    return out


def _load(args):
    from ..api import load
    return load(args.run, device=args.device)


def _cmd_interpolate(args) -> None:
    from ..explore.interpolation import interpolation_rows
    from ..explore.sheets import write_sheet
    g = _load(args)
    seeds = _ints(args.seeds, "--seeds")
    labels = _ints(args.labels, "--labels") if args.labels else None
    rows = interpolation_rows(g, seeds, args.steps, args.slerp, labels, args.truncation)
    names = [f"{a}->{b}" for a, b in zip(seeds, seeds[1:])]
    print(f"wrote {write_sheet(args.out, rows, names)} ({'slerp' if args.slerp else 'lerp'}, "
          f"{args.steps} steps)")


def _cmd_arithmetic(args) -> None:
    import torch
    from ..explore.arithmetic import arithmetic, group_mean, jittered
    from ..explore.points import render, seed_points
    from ..explore.sheets import write_sheet
    g = _load(args)
    k = g.num_classes
    groups = [seed_points(g, _ints(s, f"--{n}"), truncation=args.truncation)
              for n, s in (("a", args.a), ("b", args.b), ("c", args.c))]
    result = jittered(arithmetic(*groups, num_classes=k), args.variations, seed=args.seed)
    rows = [torch.cat([render(g, p), render(g, group_mean(p, k))]) for p in groups]
    rows.append(render(g, result))
    out = write_sheet(args.out, rows, ["a | mean", "b | mean", "c | mean", "a - b + c"])
    print(f"wrote {out} (rows a, b, c end with their group mean; the last row is the result "
          f"followed by {args.variations - 1} variations with uniform noise +-0.25)")


def _cmd_truncation(args) -> None:
    from ..explore.points import render, seed_points
    from ..explore.sheets import write_sheet
    g = _load(args)
    values = _floats(args.values, "--values")
    seeds = list(range(args.seed, args.seed + args.n))
    rows = [render(g, seed_points(g, seeds, truncation=v)) for v in values]
    print(f"wrote {write_sheet(args.out, rows, ['none' if v is None else f'{v:g}' for v in values])}")


def _cmd_directions(args) -> None:
    from ..explore.directions import (direction_rows, fit_attribute_direction, principal_directions,
                             save_directions)
    from ..explore.sheets import write_sheet
    if not args.attribute and not args.principal:
        raise GanforgeError("choose --attribute NAME and/or --principal K")
    g = _load(args)
    found = []
    for name in args.attribute:
        d = fit_attribute_direction(g, name, n=args.n, seed=args.seed, ridge=args.ridge,
                                    classifier=args.classifier, label=args.label)
        print(f"{name}: held-out R^2 {d.scores[0]:.3f}, slope {d.slopes[0]:.4g} per unit step "
              f"(attribute std {d.extra['attribute_std']:.4g})")
        found.append(d)
    if args.principal:
        d = principal_directions(g, k=args.principal, n=min(args.n, args.jacobian_samples),
                                 seed=args.seed, label=args.label)
        print("principal directions, mean squared output change per unit step: "
              + ", ".join(f"{v:.4g}" for v in d.scores))
        found.append(d)
    seeds = _ints(args.seeds, "--seeds")
    amounts = _numbers(args.amounts, "--amounts") if args.amounts else [-3, -2, -1, 0, 1, 2, 3]
    for d in found:
        path = save_directions(g.run_dir, d)
        rows, labels = direction_rows(g, d, seeds, amounts, label=d.extra.get("label"))
        sheet = write_sheet(path.with_suffix(".png"), rows, labels)
        print(f"wrote {path} and {sheet}")


def _cmd_nearest(args) -> None:
    from ..explore.nearest import memorization, run_training_data
    from ..explore.sheets import write_sheet
    g = _load(args)
    report = memorization(g, run_training_data(g), n=args.n, k=args.k, held_out=args.held_out,
                          features=args.features, seed=args.seed)
    print(report.summary())
    if report.fakes.dim() == 4:
        rows, labels = report.sheet_rows(args.rows)
        print(f"wrote {write_sheet(args.out, rows, labels)} (each row: a generated sample, then its "
              f"{args.k} nearest training images)")


def _cmd_explore(args) -> None:
    from ..api import load
    from ..explore.server import serve
    if not args.runs:
        raise GanforgeError("name at least one run directory to explore")
    serve([load(path, device=args.device) for path in args.runs], host=args.host, port=args.port)


def register(sub) -> None:
    """Add the explore subcommands to the CLI's subparsers."""
    def command(name: str, help: str, func, run: bool = True):
        p = sub.add_parser(name, help=help)
        if run:
            p.add_argument("run", help="run directory")
        p.add_argument("--device", default="cpu")
        p.set_defaults(func=func)
        return p

    p = command("interpolate", "sheet of samples walking between seeds (lerp or slerp)", _cmd_interpolate)
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds; one row per consecutive pair")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--slerp", action="store_true", help="spherical interpolation (default: linear)")
    p.add_argument("--labels", help="conditional models: one class per seed (classes blend in "
                                    "embedding space)")
    p.add_argument("--truncation", type=float, default=None)
    p.add_argument("--out", default="interpolation.png")

    p = command("arithmetic", "latent vector arithmetic mean(a) - mean(b) + mean(c)", _cmd_arithmetic)
    for name in "abc":
        p.add_argument(f"--{name}", required=True, metavar="SEEDS", help=f"seeds of group {name}")
    p.add_argument("--variations", type=int, default=8, help="result plus noisy variations")
    p.add_argument("--seed", type=int, default=0, help="seed of the variations' noise")
    p.add_argument("--truncation", type=float, default=None)
    p.add_argument("--out", default="arithmetic.png")

    p = command("truncation", "one row of the same seeds per truncation threshold", _cmd_truncation)
    p.add_argument("--values", default="none,2,1,0.5,0.25", help="thresholds; none = no truncation")
    p.add_argument("-n", type=int, default=10, help="samples per row")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--out", default="truncation.png")

    p = command("directions", "fit latent directions (attribute or principal) and save them",
                _cmd_directions)
    p.add_argument("--attribute", action="append", default=[],
                   help="brightness, ink or class:K (with --classifier); repeatable")
    p.add_argument("--principal", type=int, default=0, metavar="K",
                   help="also the K leading directions of the generator's Jacobian")
    p.add_argument("--classifier", help="extractor for class:K attributes, e.g. classifier:PATH")
    p.add_argument("--label", type=int, default=None,
                   help="conditional models: fit within this class (z often acts per class)")
    p.add_argument("-n", type=int, default=2000, help="samples for the fit")
    p.add_argument("--jacobian-samples", type=int, default=64)
    p.add_argument("--ridge", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seeds", default="0,1,2", help="seeds shown moving along each direction")
    p.add_argument("--amounts", help="steps along each direction (default -3..3)")

    p = command("nearest", "generated samples beside their nearest training images", _cmd_nearest)
    p.add_argument("-n", type=int, default=256, help="generated samples (and held-out reals)")
    p.add_argument("-k", type=int, default=3, help="neighbours shown per sample")
    p.add_argument("--held-out", type=int, default=None, help="held-out reals (default: -n)")
    p.add_argument("--features", default="pixels",
                   help="pixels, inception or classifier:PATH (the evaluation feature extractors)")
    p.add_argument("--rows", type=int, default=8, help="rows in the sheet")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="nearest.png")

    p = command("explore", "serve a web page to explore one or more runs", _cmd_explore, run=False)
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories to serve")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    p.add_argument("--port", type=int, default=8000)
