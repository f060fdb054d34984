"""`membench compare`: your variant against a shipped (or your own) results folder, in one
command; the reference folder is only read."""

from __future__ import annotations

from membench.errors import MembenchError


def add_compare(sub) -> None:
    parser = sub.add_parser(
        "compare",
        help="train new variants on a results folder's suite and report them against it",
        description="Train VARIANT on the tasks, seeds and training config of the suite that "
        "made RESULTS, and report it against that suite's baseline and variants. The reference "
        "records are copied (never written); only the new variant's trials train.",
    )
    parser.add_argument(
        "variant",
        nargs="+",
        metavar="VARIANT",
        help="model options over the reference's base model (mem_tokens=4 bottleneck=true), or "
        "a factory (examples/gru_seq2seq.py:build, or module:function) and its options; "
        "several variants separated by a lone + (mem_tokens=4 + mem_tokens=8)",
    )
    parser.add_argument(
        "--against", required=True, metavar="RESULTS", help="the reference, e.g. results/core"
    )
    parser.add_argument("--name", help="the new variant's name (default: from VARIANT)")
    parser.add_argument(
        "--results", metavar="DIR", help="where the comparison's records go (default: "
        "runs/<suite>+<name>)",
    )  # fmt: skip
    parser.add_argument(
        "--baseline", help="test against this reference variant (default: its baseline)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would train; train and write nothing"
    )
    parser.add_argument("--address", help="join a running Ray cluster: auto or HOST:PORT")
    parser.add_argument("--max-concurrent", type=int, metavar="N", help="at most N at once")
    parser.add_argument(
        "--metric", default="exact_match", help="metric of the report (default: exact_match)"
    )

    def handler(args) -> int:
        from pathlib import Path

        from rich.console import Console

        from membench.cli.checks import check_at_least, check_folder, check_metric
        from membench.run.compare import copy_reference, prepare
        from membench.run.display import say

        check_at_least(args.max_concurrent, 1, "--max-concurrent")
        check_metric(args.metric)
        results = Path(args.results) if args.results else None
        check_folder(results, "--results")
        comparison = prepare(args.variant, Path(args.against), args.name, results)
        suite = comparison.suite
        if args.baseline is not None:
            names = [v.name for v in suite.variants]
            if args.baseline not in names:
                raise MembenchError(
                    f"--baseline: '{args.baseline}' is not a variant of {args.against}: "
                    f"known: {', '.join(names)}"
                )
            suite.baseline = args.baseline
        console = Console()
        new = comparison.variants
        mine = len(suite.tasks) * len(suite.seeds) * len(new)
        for one in new:
            say(console, f"{one.name}: {one.summary()}")
        say(
            console,
            f"against {comparison.reference} ({len(comparison.reused)} trials of "
            f"{len(suite.variants) - len(new)} variants, only read), tested against "
            f"'{suite.baseline}'",
        )
        shape = f"{len(suite.tasks)} tasks × {len(suite.seeds)} seeds" + (
            f" × {len(new)} variants" if len(new) > 1 else ""
        )
        names = ", ".join(v.name for v in new)
        todo = comparison.todo
        if suite.climb is None:
            say(console, f"{len(todo)} of {mine} trials of {names} to train ({shape})")
        else:  # a climb trains the next level of each seed, round by round, not the grid
            todo = comparison.next_round()
            say(
                console,
                f"a climb: at most {mine} trials of {names} ({shape}); its next round trains "
                f"{len(todo)}, each later round the level above one a seed solved",
            )
        say(console, f"records: {comparison.results}")
        if args.dry_run:
            from membench.run.display import say_estimate

            say_estimate(suite, todo, comparison.results / "trials", console)
            say(console, "dry run: nothing trained, nothing written")
            return 0
        copy_reference(comparison)
        from membench.run.sweep import run_suite

        return run_suite(
            suite,
            comparison.results,
            address=args.address,
            max_concurrent=args.max_concurrent,
            metric=args.metric,
            rerun_failed=True,  # the reference's are all ok: only the new variant's retrain
            rerun_stale=True,  # a factory edited since its last compare trains again
            retry=retry_command(args),
        )

    parser.set_defaults(handler=handler)


def retry_command(args) -> str:
    """This compare as typed: what retries its failed trials (it reruns them by itself)."""
    import shlex

    words = ["membench", "compare", *args.variant, "--against", args.against]
    for flag in ("name", "results", "baseline", "address"):
        if getattr(args, flag, None):
            words += [f"--{flag}", str(getattr(args, flag))]
    return shlex.join(words)
