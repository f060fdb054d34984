"""`membench train` and `membench attention`: one trial, trained in the foreground, and one
trial's attention maps drawn."""

from __future__ import annotations

import json

from membench.errors import MembenchError


def default(key: str) -> str:
    """'(default: 2000)': the config's own default, so --help and the code cannot disagree."""
    from membench.config.spec import ModelConfig, TrainConfig

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

        from membench.config.identity import make_spec, parse_assignment
        from membench.run.display import TrialBar, print_summary
        from membench.run.train import run_trial
        from membench.suite.trials import add_code_paths

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

        from membench.analysis.attention_roles import describe_attention
        from membench.report.attention_plots import (
            default_out_dir,
            draw,
            load_records,
            select_record,
        )

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
