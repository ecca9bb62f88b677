"""`ganforge dataset`: convert a folder or any source into a stylegan2-ada dataset zip (like
stylegan2-ada's dataset_tool), or with --dry-run report what it would hold."""
from __future__ import annotations

from ..errors import GanforgeError


def register(sub) -> None:
    p = sub.add_parser("dataset", help="convert a folder or any data source into a stylegan2-ada zip "
                                       "at one resolution, with labels")
    p.add_argument("source", help="a folder, zip, LMDB, HF dataset, tar shards, npz, IDX, CIFAR or a named set")
    p.add_argument("--out", help="the .zip to write (required unless --dry-run)")
    p.add_argument("--resolution", type=int, required=True, help="output images are RES x RES (center crop)")
    p.add_argument("--channels", type=int, default=0, choices=[0, 1, 3, 4],
                   help="1 gray, 3 RGB, 4 RGBA; 0 keeps the source's")
    p.add_argument("--dry-run", action="store_true", help="read and count everything, write nothing")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=_run)


def _run(args) -> None:
    from ..data.convert import convert_to_zip
    if not args.dry_run and not args.out:
        raise GanforgeError("--out is required (or pass --dry-run)")
    report = convert_to_zip(args.source, args.out, args.resolution, args.channels,
                            dry_run=args.dry_run, overwrite=args.overwrite)
    print("\n".join(report.lines()))
