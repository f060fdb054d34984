"""The `membench` command. Each subcommand is one `add_*` function (parser + handler); the work
itself is done by the library modules, imported lazily so `membench tasks` stays instant.
User errors print one line on stderr and exit 2."""

from __future__ import annotations

import argparse
import json
import sys

from membench.errors import MembenchError


def add_tasks(sub) -> None:
    parser = sub.add_parser("tasks", help="list task generators and named task instances")

    def handler(args) -> int:
        from rich.console import Console
        from rich.table import Table

        from membench import tasks
        from membench.config import named_tasks

        console = Console()
        wide = console.width >= 110  # narrower: descriptions go below, so names stay whole
        table = Table(title="Tasks (use the name with --task; override with --set key=value)")
        columns = ["name", "generator", "parameters", "src/tgt", "chance"]
        for column in columns + ["description"] * wide:
            table.add_column(column, no_wrap=column != "description")
        descriptions = []
        for name, instance in sorted(named_tasks().items()):
            generator = tasks.get(instance["task"])
            params = generator.resolve(instance["params"])
            src_len, tgt_len = generator.lengths(**params)
            row = [
                name,
                instance["task"],
                "\n".join(f"{k}={v}" for k, v in params.items()),
                f"{src_len}/{tgt_len}",
                f"{generator.chance(**params):.3f}",
            ]
            table.add_row(*row, *[instance["description"]] * wide)
            descriptions.append(f"[bold]{name}[/]: {instance['description']}")
        console.print(table)
        if not wide:
            for line in descriptions:
                console.print(line, highlight=False)
        return 0

    parser.set_defaults(handler=handler)


def default(key: str) -> str:
    """'(default: 2000)': the config's own default, so --help and the code cannot disagree."""
    from membench.config import ModelConfig, TrainConfig

    for config in (ModelConfig(), TrainConfig()):
        if hasattr(config, key):
            return f"(default: {getattr(config, key)})"
    raise KeyError(key)


def add_train(sub) -> None:
    parser = sub.add_parser("train", help="train one model on one task (one trial)")
    parser.add_argument("--task", default="copy", help="task name (see `membench tasks`)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="task parameter"
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed, >= 0 (default: 0)")
    parser.add_argument(
        "--factory",
        help="module:function building your own model (looked up in the current directory and "
        "on PYTHONPATH)",
    )
    model = parser.add_argument_group("model (defaults: membench.config.ModelConfig)")
    model.add_argument(
        "--arch", choices=["encoder", "encoder_decoder", "recurrent"], help=default("arch")
    )
    model.add_argument("--d-model", type=int, help=default("d_model"))
    model.add_argument("--n-layers", type=int, help=default("n_layers"))
    model.add_argument("--n-heads", type=int, help=default("n_heads"))
    model.add_argument("--d-ff", type=int, help=default("d_ff"))
    model.add_argument("--dropout", type=float, help=default("dropout"))
    model.add_argument(
        "--mem-tokens", type=int, help="memory tokens m (0: plain Transformer; default: 0)"
    )
    model.add_argument(
        "--controller",
        choices=["shared", "dedicated", "dedicated_shared"],
        help=default("controller"),
    )
    model.add_argument(
        "--bottleneck",
        action="store_true",
        default=None,
        help="the sequence reads memory only (default: off)",
    )
    model.add_argument(
        "--bidirectional",
        dest="causal",
        action="store_false",
        default=None,
        help="every sequence position reads every other (default: causal, memory reads all)",
    )
    model.add_argument(
        "--mem-reads",
        choices=["all", "memory", "context"],
        help="what memory rows read: everything, memory only, or the input before the first "
        "answer row " + default("mem_reads"),
    )
    model.add_argument(
        "--segment",
        type=int,
        help="arch recurrent: source tokens per segment, memory alone crosses segments "
        + default("segment"),
    )
    model.add_argument(
        "--bptt",
        type=int,
        help="arch recurrent: segments gradients flow back through, 0: all " + default("bptt"),
    )
    train = parser.add_argument_group("training (defaults: membench.config.TrainConfig)")
    train.add_argument("--steps", type=int, help=default("steps"))
    train.add_argument("--batch-size", type=int, help=default("batch_size"))
    train.add_argument("--lr", type=float, help=default("lr"))
    train.add_argument("--warmup", type=int, help=default("warmup"))
    train.add_argument("--eval-every", type=int, help=default("eval_every"))
    train.add_argument("--eval-size", type=int, help=default("eval_size"))
    train.add_argument("--solve-threshold", type=float, help=default("solve_threshold"))
    train.add_argument("--weight-decay", type=float, help=default("weight_decay"))
    train.add_argument("--grad-clip", type=float, help=default("grad_clip"))
    train.add_argument(
        "--patience",
        type=int,
        help="stop after this many evaluations without a rise in held-out token accuracy, 0: "
        "never " + default("patience"),
    )
    train.add_argument(
        "--no-attention",
        dest="attention",
        action="store_false",
        default=None,
        help="keep no attention summary in the record (default: keep it)",
    )
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], help=default("device"))
    parser.add_argument("--json", action="store_true", help="print the record as JSON on stdout")

    def handler(args) -> int:
        import os

        from membench.config import make_spec, parse_assignment
        from membench.display import TrialBar, print_summary
        from membench.suite import add_code_paths
        from membench.train import run_trial

        if args.seed < 0:
            raise MembenchError(f"--seed: must be >= 0, got {args.seed}")
        add_code_paths([os.getcwd()])  # as `membench run` finds a factory beside the suite

        model_keys = ("arch", "d_model", "n_layers", "n_heads", "d_ff", "dropout")
        model_keys += ("mem_tokens", "controller", "bottleneck", "causal", "segment", "bptt")
        model_keys += ("mem_reads",)
        train_keys = ("steps", "batch_size", "lr", "warmup", "eval_every", "eval_size")
        train_keys += ("solve_threshold", "attention", "device", "weight_decay", "grad_clip")
        train_keys += ("patience",)
        given = vars(args)
        spec = make_spec(
            task=args.task,
            task_overrides=dict(parse_assignment(text) for text in args.set),
            model={k: given[k] for k in model_keys if given[k] is not None},
            train={k: given[k] for k in train_keys if given[k] is not None},
            seed=args.seed,
            factory=args.factory,
        )
        with TrialBar(spec) as bar:
            record = run_trial(spec, progress=bar.update)
        if args.json:
            print(json.dumps(record))
        else:
            print_summary(record)
        return 0 if record["status"] == "ok" else 1

    parser.set_defaults(handler=handler)


def add_attention(sub) -> None:
    parser = sub.add_parser(
        "attention", help="draw one trial's attention maps and block masses (PNG)"
    )
    parser.add_argument(
        "results", metavar="RESULTS", help="results directory (RESULTS/trials/*.json) or a record"
    )
    parser.add_argument("--task", help="task (label) of the trial")
    parser.add_argument("--variant", help="variant of the trial")
    parser.add_argument("--seed", type=int, help="seed (default: the lowest)")
    parser.add_argument("--example", type=int, default=0, help="sampled example to draw (0, 1)")
    parser.add_argument("--out", help="directory for the PNGs (default: beside the results)")

    def handler(args) -> int:
        from pathlib import Path

        from membench.attention import describe_attention
        from membench.attention_plots import default_out_dir, draw, load_records, select_record

        path = Path(args.results)
        record = select_record(load_records(path), str(path), args.task, args.variant, args.seed)
        out = Path(args.out) if args.out else default_out_dir(path, record)
        for written in draw(record["attention"], out, args.example):
            print(written)
        if not record["attention"].get("sample"):
            print("no heatmaps: the record keeps no full maps (they were over its size budget)")
        print(describe_attention(record["attention"]))
        return 0

    parser.set_defaults(handler=handler)


def add_report(sub) -> None:
    parser = sub.add_parser("report", help="statistically tested comparison tables and plots")
    parser.add_argument(
        "path",
        metavar="PATH",
        help="results directory, or a CSV/Parquet file (task, variant, seed, metrics)",
    )
    parser.add_argument("--metric", default="exact_match", help="metric to compare")
    parser.add_argument("--baseline", help="baseline variant (default: 'baseline' or the first)")
    parser.add_argument("--alpha", type=float, default=0.05)
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
        help="t: paired t (Welch unpaired), exact where t is undefined (default); exact: the "
        "sign-flip or permutation test for every comparison",
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

        from membench.render import FORMATS, render, write_report
        from membench.render_terminal import print_report
        from membench.report import build_report, read_table

        path = Path(args.path)
        found = read_table(path)
        baseline = args.baseline or found.baseline
        try:
            report = build_report(
                found.table,
                args.metric,
                baseline,
                args.alpha,
                args.correction,
                args.test,
                found.unused,
                found.tuning,
                found.tune,
            )
        except ValueError as err:
            raise MembenchError(f"{path}: {err}") from None
        if args.out:  # files only where asked: a report never rewrites one it did not write
            out = Path(args.out)
            written = write_report(report, out, formats=tuple(FORMATS))
            print(f"wrote {len(written)} files to {out}", file=sys.stderr)
        if args.format == "html":
            from membench.render_html import plot_images  # the plots, embedded

            print(render(report, "html", plot_images(report)))
        elif args.format:
            print(render(report, args.format))
        else:
            print_report(report, all_rows=args.all)
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
        "--metric", default="exact_match", help="metric of the final report (default: exact_match)"
    )

    def handler(args) -> int:
        from pathlib import Path

        from rich.console import Console

        from membench.registry import did_you_mean
        from membench.store import METRICS
        from membench.suite import load_suite

        if args.max_concurrent is not None and args.max_concurrent < 1:
            raise MembenchError(f"--max-concurrent: must be >= 1, got {args.max_concurrent}")
        if args.metric not in METRICS:
            raise MembenchError(
                f"--metric: unknown metric '{args.metric}': "
                f"{did_you_mean(args.metric, list(METRICS))}known: {', '.join(METRICS)}"
            )
        suite = load_suite(args.suite)
        results = Path(args.results) if args.results else Path("results") / suite.name
        if args.dry_run:
            from membench.display import dry_run

            dry_run(suite, results, args.rerun_failed, args.force, args.rerun_stale, Console())
            return 0
        from membench.sweep import run_suite

        return run_suite(
            suite,
            results,
            address=args.address,
            max_concurrent=args.max_concurrent,
            rerun_failed=args.rerun_failed,
            force=args.force,
            metric=args.metric,
            rerun_stale=args.rerun_stale,
        )

    parser.set_defaults(handler=handler)


def add_schema(sub) -> None:
    parser = sub.add_parser(
        "schema", help="print the JSON Schema of a suite file (for editors) or of a trial record"
    )
    parser.add_argument("which", nargs="?", choices=["suite", "record"], default="suite")

    def handler(args) -> int:
        from membench.schema import record_schema, suite_schema

        schema = suite_schema() if args.which == "suite" else record_schema()
        print(json.dumps(schema, indent=1))
        return 0

    parser.set_defaults(handler=handler)


COMMANDS = [add_tasks, add_train, add_attention, add_report, add_run, add_schema]


def main(argv: list[str] | None = None) -> int:
    from membench import __version__

    parser = argparse.ArgumentParser(
        prog="membench", description="Ablation benchmark suite for memory-token Transformers."
    )
    parser.add_argument("--version", action="version", version=f"membench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    args = parser.parse_args(argv)
    try:
        return args.handler(args) or 0
    except MembenchError as err:
        print(f"membench {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"membench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
