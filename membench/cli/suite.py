"""`membench run` and `membench report`: a suite trained with Ray Tune, and its records
turned into tested tables and plots."""

from __future__ import annotations

import sys

from membench.errors import MembenchError


def add_report(sub) -> None:
    parser = sub.add_parser("report", help="statistically tested comparison tables and plots")
    parser.add_argument(
        "path",
        metavar="PATH",
        nargs="+",
        help="results directory, or a CSV/Parquet file (task, variant, seed, metrics); several "
        "results directories made against one reference (membench compare) merge into one report",
    )
    parser.add_argument(
        "--metric",
        help="metric of the main table (default: the suite's primary metric; solve_rate for a "
        "suite scored by frontier; else exact_match)",
    )
    parser.add_argument("--baseline", help="baseline variant (default: 'baseline' or the first)")
    parser.add_argument(
        "--alpha", type=float, default=0.05, help="significance level, in (0, 1) (default: 0.05)"
    )
    parser.add_argument(
        "--correction",
        choices=["holm", "bh", "none"],
        default="holm",
        help="multiple-comparison correction (default: holm, family-wise error)",
    )
    parser.add_argument(
        "--test",
        choices=["exact", "t"],
        default="exact",
        help="exact (default): the sign-flip test on paired seeds (a permutation test unpaired) "
        "for every comparison; t: paired t (Welch unpaired), exact where t is undefined",
    )
    parser.add_argument(
        "--format",
        choices=["md", "latex", "csv", "json", "html"],
        help="print this rendering on stdout instead of the terminal report (html: one file "
        "with every plot embedded)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="also write every format and the plots to DIR (default: write nothing)",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="terminal: every comparison row (default: the significant ones and a count of the "
        "rest)",
    )

    def handler(args) -> int:
        from pathlib import Path

        for one in args.path:
            if not Path(one).exists():  # before the imports below, which take seconds
                raise MembenchError(f"{one}: no such file or directory")
        from membench.report.model import build_report, read_table
        from membench.report.render import FORMATS, render, write_report
        from membench.report.terminal import print_report

        if not 0 < args.alpha < 1:
            raise MembenchError(f"--alpha: must be in (0, 1), got {args.alpha:g}")
        paths = [Path(one) for one in args.path]
        path = paths[0]
        if len(paths) > 1:
            from membench.store.results import merge_results

            if not all(p.is_dir() for p in paths):
                raise MembenchError("PATH: only results folders merge, not tables")
            found = merge_results(paths, [read_table(p) for p in paths])
        else:
            found = read_table(path)
        baseline = args.baseline or found.baseline
        try:
            report = build_report(
                found.table,
                args.metric or main_metric(found.design),
                baseline,
                args.alpha,
                args.correction,
                args.test,
                found.unused,
                found.tuning,
                found.tune,
                found.references,
                found.planned,
                found.design,
            )
        except ValueError as err:
            raise MembenchError(f"{path}: {err}") from None
        if args.out:  # files only where asked: a report never rewrites one it did not write
            from membench.cli.checks import check_folder

            check_folder(args.out, "--out")
            out = Path(args.out)
            written = write_report(report, out, formats=tuple(FORMATS))
            print(f"wrote {len(written)} files to {out}", file=sys.stderr)
        if args.format == "html":
            from membench.report.html import plot_images

            print(render(report, "html", plot_images(report)))
        elif args.format:
            print(render(report, args.format))
        else:
            out = Path(args.out) / "report.md" if args.out else None
            here = path / "report" / "report.md" if len(paths) == 1 else Path("/nonexistent")
            full = str(out or (here if here.is_file() else "")) or None
            print_report(report, all_rows=args.all, full=full)
        return 0

    parser.set_defaults(handler=handler)


def add_run(sub) -> None:
    parser = sub.add_parser(
        "run", help="run a suite's trials with Ray Tune (trains only what has no record yet)"
    )
    parser.add_argument("suite", metavar="SUITE", help="suite YAML, e.g. suites/smoke.yaml")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the trials and what would run; train nothing"
    )
    parser.add_argument(
        "--results", metavar="DIR", help="results directory (default: results/<suite name>)"
    )
    parser.add_argument(
        "--address",
        help="join a running Ray cluster: auto or HOST:PORT (default: $RAY_ADDRESS, else a "
        "local Ray sized to this machine)",
    )
    parser.add_argument(
        "--max-concurrent",
        type=int,
        metavar="N",
        help="at most N trials at once (default: as many as the cluster's resources allow)",
    )
    parser.add_argument(
        "--rerun-failed", action="store_true", help="train failed trials again as well"
    )
    parser.add_argument(
        "--rerun-stale",
        action="store_true",
        help="train again the trials whose records other model code made (a changed factory "
        "module, a newer membench model)",
    )
    parser.add_argument("--force", action="store_true", help="train every trial again")
    parser.add_argument(
        "--log",
        action="append",
        metavar="LOGGER",
        help="also log each trial to tensorboard, mlflow or wandb (repeatable; the suite's "
        "`log:` too; docs/suites.md, 'Experiment tracking')",
    )
    parser.add_argument(
        "--update-suite",
        action="store_true",
        help="let the results folder stand for this suite though it was made by the suite as it "
        "was before a change (its records are kept; only what the change adds trains)",
    )
    parser.add_argument(
        "--pack",
        type=int,
        metavar="N",
        help="train up to N trials of a cell as one program per Ray trial (default: the suite's "
        "resources.pack, else 16 with a GPU and 1 on CPU)",
    )
    parser.add_argument(
        "--metric",
        help="metric of the final report's main table (default: the suite's primary metric; "
        "solve_rate for a suite scored by frontier; else exact_match)",
    )

    def handler(args) -> int:
        from pathlib import Path

        from rich.console import Console

        from membench.cli.checks import check_at_least, check_folder, check_metric
        from membench.suite.load import load_suite

        check_at_least(args.max_concurrent, 1, "--max-concurrent")
        check_at_least(args.pack, 1, "--pack")
        if args.metric:
            check_metric(args.metric)
        suite = load_suite(args.suite)
        if args.pack:
            import dataclasses

            suite.resources = dataclasses.replace(suite.resources, pack=args.pack)
        if args.log or suite.log:
            from membench.run.packing import pack_size
            from membench.run.tracking import check_loggers

            suite.log = check_loggers([*suite.log, *(args.log or [])])
            per_run = [name for name in suite.log if name != "tensorboard"]
            if per_run and pack_size(suite.resources) > 1:
                raise MembenchError(
                    f"--log {per_run[0]}: packed trials (pack {pack_size(suite.resources)}) log as "
                    "one run per pack, not per trial: add --pack 1 to track each trial"
                )
        results = Path(args.results) if args.results else Path("results") / suite.name
        check_folder(results, "--results")
        if not args.update_suite:
            from membench.run.sweep import check_owner, fixed_trials

            check_owner(results, suite, fixed_trials(suite))
        if args.dry_run:
            from membench.run.display import dry_run

            dry_run(suite, results, args.rerun_failed, args.force, args.rerun_stale, Console())
            return 0
        from membench.run.sweep import run_suite

        return run_suite(
            suite,
            results,
            address=args.address,
            max_concurrent=args.max_concurrent,
            rerun_failed=args.rerun_failed,
            force=args.force,
            metric=args.metric or main_metric(suite.design),
            rerun_stale=args.rerun_stale,
            update_suite=args.update_suite,
        )

    parser.set_defaults(handler=handler)


def main_metric(design: dict | None) -> str:
    """The main table's metric for a suite's declared primary measure: solve counts (exact
    intervals) for a suite scored by frontier, where a level is solved or not."""
    primary = (design or {}).get("primary") or "exact_match"
    return "solve_rate" if primary == "frontier" else primary
