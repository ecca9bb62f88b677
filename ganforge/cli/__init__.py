"""Command line: parse flags, call the API, print. Errors the user can fix print as one line."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import GanforgeError


def _cmd_train(args) -> None:
    from .. import api, run
    from ..config import parse_set_args, resolve
    args.set = args.set + _runtime_sets(args)
    if args.config and args.recipe:
        raise GanforgeError("give --recipe or --config, not both (a config file may say base = \"RECIPE\")")
    if args.repair_log and not args.resume:
        raise GanforgeError("--repair-log goes with --resume RUN_DIR")
    if args.resume:
        sets = parse_set_args(args.set)
        if args.config:
            raise GanforgeError("--config cannot change on --resume (the run keeps its config; "
                                "--set changes schedule keys such as train.steps)")
        if args.data:
            raise GanforgeError("--data cannot change on --resume (the run keeps its dataset)")
        run_dir = api.resume(args.resume, sets, recipe=args.recipe, repair_log=args.repair_log)
    else:
        cfg = resolve(args.config or args.recipe or "dcgan", args.set, args.data)
        run_dir = api.train(cfg, out=args.out, runs_root=args.runs)
    if int(os.environ.get("RANK", 0)) == 0:  # under torchrun, one process reports
        print(f"run directory: {run_dir}")
        print(f"samples: {run.sample_grid_path(run_dir)}")


def _runtime_sets(args) -> list[str]:
    """--device, --precision and --compile are shorthands for train.* settings (they win over
    --set for the same key)."""
    sets = []
    if args.device:
        sets.append(f"train.device={args.device}")
    if args.precision:
        sets.append(f"train.precision={args.precision}")
    if args.compile:
        sets.append("train.compile=true")
    return sets


def _cmd_recipes(args) -> None:
    from ..config import recipe_names, recipe_table
    for name in recipe_names():
        print(f"{name:<16} {recipe_table(name).get('description', '')}")


def _cmd_limits(args) -> None:
    from ..limits import table
    for name, valid, note in table():
        print(f"{name:<28} {valid:<28} {note}".rstrip())


def _cmd_sample(args) -> None:
    from ..api import load
    from ..sampling import write_samples
    if args.show_growth:  # PGGAN: one fixed latent through every resolution stage
        from ..explore.growth import growth_sheet
        print(f"wrote {growth_sheet(load(args.run), args.out, seed=args.seed, n=min(args.n, 16))}")
        return
    g = load(args.run, device=args.device, best=args.best)
    if args.standing_stats:  # BigGAN's standing statistics for G's BatchNorms
        from ..explore.standing import standing_stats_
        standing_stats_(g.G, g.family, args.standing_stats, seed=args.seed, truncation=args.truncation)
    if args.vary_code:
        from ..sampling import write_code_sweep
        if args.format != "png":
            raise GanforgeError("--vary-code writes a PNG grid (--format png)")
        print(f"wrote {write_code_sweep(g, args.vary_code, args.n, args.seed, args.out)}")
        return
    labels = _labels(args.labels) if args.labels else None
    out = write_samples(g, args.n, args.seed, args.out, args.format, labels=labels,
                        truncation=args.truncation, class_grid=args.class_grid)
    print(f"wrote {out}")


def _labels(text: str) -> list[int]:
    from ..limits import check
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise GanforgeError(f"--labels must be comma-separated integers, got {text[:60]!r}") from None
    return [check("label", v, "--labels") for v in values]


def _cmd_truncation_sweep(args) -> None:
    import json
    from ..api import load
    from ..explore.truncation_sweep import (classifier_scorer, format_table, parse_thresholds,
                                           plot_truncation_curve, real_images, truncation_sweep)
    from ..metrics import get_extractor
    thresholds = parse_thresholds(args.values)
    g = load(args.run, device=args.device)
    name = args.extractor or g.cfg.eval.extractor
    if not name:
        raise GanforgeError("pass --extractor classifier:PATH (or inception) to score the samples")
    extractor = get_extractor(name, device=args.device)
    score = classifier_scorer(extractor, real_images(g.cfg, args.n, args.seed))
    rows = truncation_sweep(g, thresholds, score, n=args.n, seed=args.seed,
                            standing_stats=args.standing_stats)
    out = Path(args.out)
    plot_truncation_curve(rows, out, title=f"{Path(args.run).name}: {args.n} samples, {extractor.name}")
    out.with_suffix(".json").write_text(json.dumps({"extractor": extractor.name, "n": args.n,
                                                    "rows": rows}, indent=2) + "\n")
    print(format_table(rows, extractor.name))
    print(f"wrote {out} and {out.with_suffix('.json')}")


def _cmd_plot(args) -> None:
    from ..explore.curves import write_training_plots
    paths = write_training_plots(args.run)
    print("\n".join(f"wrote {p}" for p in paths) or f"{args.run}: no statistics logged yet")


def _cmd_export(args) -> None:
    from ..api import load
    from ..export import export_generator
    g = load(args.run, best=args.best)
    done = export_generator(g, args.format, out=args.out, stage=args.stage)
    check = ("not checked: onnxruntime is not installed" if done.max_difference is None
             else f"checked: max |exported - eager| = {done.max_difference:.2g}")
    print(f"wrote {done.path} ({check}) and {done.description}")


def _cmd_eval(args) -> None:
    from datetime import datetime, timezone
    from .. import run
    from ..api import load
    from ..metrics.evaluate import append_jsonl, evaluate, format_table, resolve_extractor
    g = load(args.run, device=args.device, best=args.best)
    d = g.cfg.data
    dataset = run.dataset(g.cfg)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    extractor = None if hasattr(dataset, "points") else resolve_extractor(
        args.extractor or g.cfg.eval.extractor, d.source, args.device, args.inception_weights)
    result = evaluate(g, dataset, extractor, metrics, n=args.n, seed=args.seed, cache_dir=args.cache_dir,
                      source=d.source)
    print(f"{args.run} at step {g.step}")
    print(format_table(result))
    record = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "step": g.step,
              "generator": "best" if args.best else "latest", "data": d.source, **result}
    append_jsonl(run.eval_log_path(args.run), record)
    print(f"appended to {run.eval_log_path(args.run)}")


def _cmd_classifier_train(args) -> None:
    from ..data import load_dataset
    from ..metrics.classifier import save_classifier, train_classifier
    from ..metrics.evaluate import default_classifier_dir
    dataset = load_dataset(args.data, image_size=args.image_size, channels=args.channels, seed=args.seed)
    if not hasattr(dataset, "images"):
        raise GanforgeError(f"{args.data} is not an image dataset; the classifier needs labelled images")
    model, held_out = train_classifier(dataset, epochs=args.epochs, seed=args.seed)
    out = Path(args.out) if args.out else default_classifier_dir(args.data)
    save_classifier(model, {"held_out_accuracy": held_out, "dataset": dataset.name, "source": args.data,
                            "epochs": args.epochs, "seed": args.seed}, out)
    print(f"held-out accuracy {held_out:.4f} ({dataset.name}, {len(dataset)} images, {args.epochs} epochs)")
    print(f"saved to {out}; use it with --extractor classifier:{out}")


class _VersionAction(argparse.Action):
    """--version, computed only when asked (it imports torch and asks git)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from ..provenance import version_text
        print(version_text())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ganforge", description="Train, evaluate and explore GANs.")
    p.add_argument("--version", action=_VersionAction, help="print ganforge, torch, CUDA and git versions")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a recipe (default: dcgan on the bundled MNIST digits)")
    t.add_argument("--recipe", help="recipe name (see `ganforge recipes`) or a config file; default dcgan")
    t.add_argument("--config", metavar="FILE.toml",
                   help="your own config file: the recipes' schema, `base = \"dcgan\"` to refine one")
    t.add_argument("--data", help="data source: mnist, digits, ring8, grid25, stacked-mnist, or a path")
    t.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any config field, e.g. --set train.steps=500")
    t.add_argument("--out", help="run directory (default: runs/<recipe>-NNN)")
    t.add_argument("--runs", default="runs", help="where auto-numbered run directories go")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest checkpoint")
    t.add_argument("--repair-log", action="store_true",
                   help="with --resume: move unreadable lines of RUN/metrics.jsonl to "
                        "metrics.jsonl.bad instead of stopping (every readable record is kept)")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], help="train.device (default auto)")
    t.add_argument("--precision", choices=["fp32", "bf16", "fp16", "auto"],
                   help="train.precision: fp32 (default), bf16 autocast (CPU or GPU), fp16 with "
                        "loss scaling (GPU), auto: the fastest for this machine (bf16 on CPUs "
                        "with AMX and on Ampere or later GPUs, else fp32; channels-last either way)")
    t.add_argument("--compile", action="store_true",
                   help="train.compile: torch.compile G and D (eager if compilation fails)")
    t.set_defaults(func=_cmd_train)

    r = sub.add_parser("recipes", help="list the recipes")
    r.set_defaults(func=_cmd_recipes)

    lim = sub.add_parser("limits", help="the valid range of every number ganforge accepts, and the "
                                        "memory budget")
    lim.set_defaults(func=_cmd_limits)

    s = sub.add_parser("sample", help="write samples from a trained run")
    s.add_argument("run", help="run directory")
    s.add_argument("-n", type=int, default=64, help="number of samples")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", default="samples.png", help="output file or folder")
    s.add_argument("--format", choices=["png", "png-dir", "npz"], default="png")
    s.add_argument("--labels", help="class labels for conditional models, e.g. 0,1,2 (cycled)")
    s.add_argument("--class-grid", action="store_true", help="conditional models: one row per class")
    s.add_argument("--truncation", type=float, default=None, help="truncation threshold (> 0)")
    s.add_argument("--vary-code", metavar="CODE",
                   help="InfoGAN runs: a PNG grid, each row one z with one latent code (cat, cont0, "
                        "cont1, ...) varied along it")
    s.add_argument("--show-growth", action="store_true",
                   help="PGGAN: a sheet of fixed latents across the growth stages")
    s.add_argument("--standing-stats", type=int, default=0, metavar="BATCHES",
                   help="recompute G's BatchNorm statistics from this many batches of fresh "
                        "(truncated) latents before sampling (BigGAN's standing statistics)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--best", action="store_true", help="the generator kept in RUN/best/ (lowest FID during training)")
    s.set_defaults(func=_cmd_sample)

    ts = sub.add_parser("truncation-sweep",
                        help="score samples at several truncation thresholds and plot the trade-off")
    ts.add_argument("run", help="run directory")
    ts.add_argument("--values", default="0.25,0.5,0.75,1.0,1.5,2.0,none",
                    help="comma-separated thresholds; 'none' for no truncation")
    ts.add_argument("--out", default="truncation.png", help="plot PNG (the numbers go beside it as .json)")
    ts.add_argument("--extractor", help="features to score with: classifier:PATH or inception "
                                        "(default: the run's eval.extractor)")
    ts.add_argument("-n", type=int, default=2000, help="samples per threshold (and real images)")
    ts.add_argument("--seed", type=int, default=0)
    ts.add_argument("--standing-stats", type=int, default=0, metavar="BATCHES",
                    help="recompute BatchNorm statistics per threshold from this many batches")
    ts.add_argument("--device", default="cpu")
    ts.set_defaults(func=_cmd_truncation_sweep)

    pl = sub.add_parser("plot", help="draw a run's training curves (losses, D outputs, periodic "
                                     "metrics, the family's own statistics) into RUN/plots/")
    pl.add_argument("run", help="run directory")
    pl.set_defaults(func=_cmd_plot)

    ex = sub.add_parser("export", help="write the generator as ONNX, TorchScript or a torch.export "
                                       "program (checked against the eager generator)")
    ex.add_argument("run", help="run directory, checkpoint folder or weights file")
    ex.add_argument("--format", required=True, choices=["onnx", "torchscript", "exported-program"])
    ex.add_argument("--out", help="output file (default RUN/export/generator.EXT)")
    ex.add_argument("--stage", type=int, help="PGGAN: the growth stage to export (default: the one reached)")
    ex.add_argument("--best", action="store_true", help="the generator kept in RUN/best/")
    ex.set_defaults(func=_cmd_export)

    ev = sub.add_parser("eval", help="score a trained run: FID, KID, IS, precision/recall with a "
                                     "real-vs-real baseline; appends to RUN/eval.jsonl")
    ev.add_argument("run", help="run directory")
    ev.add_argument("--metrics", default="fid,kid,is,pr", help="comma-separated: fid, kid, is, pr, dc, acc (acc: accuracy by class of a "
                                                          "conditional run, InfoGAN's code agreement; needs a classifier)")
    ev.add_argument("--n", type=int, default=10000, help="generated samples (and real ones, at most the dataset)")
    ev.add_argument("--extractor", help="inception or classifier:PATH (default: the run's eval.extractor, "
                                        "else classifiers/<data source>)")
    ev.add_argument("--inception-weights", help="pt_inception-2015-12-05 weights file (or "
                                                "$GANFORGE_INCEPTION_WEIGHTS)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--cache-dir", help="reference statistics cache (default $GANFORGE_CACHE or ~/.cache/ganforge)")
    ev.add_argument("--device", default="cpu")
    ev.add_argument("--best", action="store_true", help="the generator kept in RUN/best/ (lowest FID during training)")
    ev.set_defaults(func=_cmd_eval)

    cl = sub.add_parser("classifier", help="the domain classifier used as a feature extractor")
    cl_sub = cl.add_subparsers(dest="classifier_command", metavar="ACTION", required=True)
    ct = cl_sub.add_parser("train", help="train the LeNet-style classifier on a labelled dataset and save it")
    ct.add_argument("--data", default="mnist", help="labelled image source (default mnist)")
    ct.add_argument("--out", help="directory to save to (default classifiers/<data>)")
    ct.add_argument("--epochs", type=int, default=15)
    ct.add_argument("--seed", type=int, default=0)
    ct.add_argument("--image-size", type=int, default=28, help="classifier input size (default 28)")
    ct.add_argument("--channels", type=int, default=0, help="0 keeps the source's channels")
    ct.set_defaults(func=_cmd_classifier_train)

    from .explore import register as register_explore
    register_explore(sub)  # interpolate, arithmetic, truncation, directions, nearest, explore
    from .dataset import register as register_dataset
    register_dataset(sub)  # ganforge dataset: convert any source into a stylegan2-ada zip
    return p


_OUT_OF_MEMORY = ("can't allocate memory", "out of memory", "Cannot allocate memory", "OutOfMemoryError")


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    import warnings
    warnings.formatwarning = _one_line_warning  # no source lines for users
    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
        finally:
            sys.stdout.flush()  # --help's text meets a closed pipe here, not at interpreter exit
        if not getattr(args, "func", None):
            parser.print_help()
            sys.stdout.flush()
            return 0
        from ..limits import check_arguments
        check_arguments(vars(args))  # every number in its documented range, before any work
        args.func(args)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
    except BrokenPipeError:
        # The reader went away (`ganforge recipes | head -1`): stop quietly, as Unix tools do.
        # Point stdout at devnull so the interpreter's final flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # killed by SIGPIPE, as the shell reports it
    except GanforgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as e:
        # The last line of defence when an estimate before allocating missed (activations are not
        # estimated): say so in one line. Any other RuntimeError is a bug and keeps its traceback.
        text = str(e)
        if not isinstance(e, MemoryError) and not any(m in text for m in _OUT_OF_MEMORY):
            raise
        first = text.strip().splitlines()[0][:200] if text.strip() else "MemoryError"
        print(f"error: out of memory ({first}); lower the batch size, model widths or image size",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; a run continues from its last checkpoint with "
              "`ganforge train --resume RUN_DIR`", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
