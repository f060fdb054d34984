"""`membench export`: a results folder as one CSV or Parquet table, one row per trial."""

from __future__ import annotations

import sys

from membench.errors import MembenchError


def add_export(sub) -> None:
    parser = sub.add_parser(
        "export",
        help="a results folder as one table (csv or parquet): a row per trial with every "
        "option, metric, seed, code fingerprint and machine",
    )
    parser.add_argument("results", metavar="RESULTS", help="a results folder, e.g. results/smoke")
    parser.add_argument("--format", default="csv", choices=["csv", "parquet"])
    parser.add_argument(
        "--out", metavar="FILE", help="where to write (default: RESULTS-NAME.FORMAT here)"
    )
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")

    def handler(args) -> int:
        from pathlib import Path

        results = Path(args.results)
        if not (results / "trials").is_dir():
            raise MembenchError(f"{results}: no trials/ folder: name a folder `membench run` wrote")
        out = Path(args.out or f"{results.resolve().name}.{args.format}")
        if out.is_dir():
            raise MembenchError(f"--out: {out} is a folder: name a file")
        if out.exists() and not args.force:
            raise MembenchError(f"--out: {out} exists: name another file, or pass --force")
        if not out.parent.is_dir():
            raise MembenchError(f"--out: no such folder {out.parent}")
        from membench.store.export import export

        export(results, args.format, out)
        print(f"wrote {out}", file=sys.stderr)
        return 0

    parser.set_defaults(handler=handler)
