"""`membench train` and `membench attention`: one trial, trained in the foreground, and one
trial's attention maps drawn."""

from __future__ import annotations

import json
import typing
from pathlib import Path

from membench.errors import MembenchError

OFF_SWITCHES = {"causal": "--bidirectional", "attention": "--no-attention"}  # default-on flags


def add_config_options(group, cls) -> None:
    """One option per field of a config model (name, type, choices, help and default from the
    field), so every model and train option exists on the command line."""
    for name, field in cls.model_fields.items():
        flag = OFF_SWITCHES.get(name, "--" + name.replace("_", "-"))
        default, about = field.default, field.description or ""
        text = f"{about} (default: {default})"
        if field.annotation is bool:  # a switch: says what it turns on, or off
            text = f"turns off: {about} (on by default)" if default else f"{about} (off by default)"
            action = "store_false" if default else "store_true"
            group.add_argument(flag, dest=name, action=action, default=None, help=text)
        elif typing.get_origin(field.annotation) is typing.Literal:
            group.add_argument(flag, choices=typing.get_args(field.annotation), help=text)
        else:
            group.add_argument(flag, type=field.annotation, help=text)


def add_train(sub) -> None:
    parser = sub.add_parser("train", help="train one model on one task (one trial)")
    parser.add_argument("--task", default="copy", help="task name (see `membench tasks`)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="task parameter"
    )
    parser.add_argument("--seed", type=int, default=0, help="training seed, >= 0 (default: 0)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default 1: a d_model-64 trial runs fastest on one, and a "
        "suite's trials run one per CPU the same way)",
    )
    parser.add_argument(
        "--factory",
        help="module:function building your own model (looked up in the current directory and "
        "on PYTHONPATH), or path/to/module.py:function",
    )
    from membench.config.spec import ModelConfig, TrainConfig

    add_config_options(
        parser.add_argument_group("model (membench.config.spec.ModelConfig)"), ModelConfig
    )
    add_config_options(
        parser.add_argument_group("training (membench.config.spec.TrainConfig)"), TrainConfig
    )
    parser.add_argument("--json", action="store_true", help="print the record as JSON on stdout")
    parser.add_argument(
        "--checkpoints",
        metavar="DIR",
        help="keep a checkpoint in DIR every 10 minutes of training ($MEMBENCH_CHECKPOINT_MINUTES"
        " sets it): after Ctrl-C the same command goes on from it (delete it to start again; "
        "membench run keeps them in RESULTS/checkpoints)",
    )

    def handler(args) -> int:
        import os

        from membench.cli.checks import check_at_least
        from membench.config.identity import make_spec, parse_assignment
        from membench.run.checkpoint import Checkpoints
        from membench.run.contract import check_contract
        from membench.run.display import TrialBar, print_summary
        from membench.run.train import TrialInterrupted, run_trial
        from membench.suite.trials import add_code_paths

        if args.seed < 0:
            raise MembenchError(f"--seed: must be >= 0, got {args.seed}")
        check_at_least(args.threads, 1, "--threads")
        import torch

        torch.set_num_threads(args.threads)
        add_code_paths([os.getcwd()])  # as `membench run` finds a factory beside the suite
        if args.factory and ".py:" in args.factory:  # path/to/module.py:function
            file, _, function = args.factory.rpartition(":")
            if not os.path.isfile(file):
                raise MembenchError(f"--factory: no such file '{file}'")
            add_code_paths([os.path.dirname(os.path.abspath(file))])
            args.factory = f"{os.path.basename(file)[:-3]}:{function}"  # the record names it so

        given = vars(args)
        spec = make_spec(
            task=args.task,
            task_overrides=dict(parse_assignment(text) for text in args.set),
            model={k: given[k] for k in ModelConfig.model_fields if given[k] is not None},
            train={k: given[k] for k in TrainConfig.model_fields if given[k] is not None},
            seed=args.seed,
            factory=args.factory,
        )
        check_contract(spec)  # a user's model: its contract checked before it trains
        try:
            with TrialBar(spec) as bar:
                checkpoints = Checkpoints(Path(args.checkpoints)) if args.checkpoints else None
                record = run_trial(spec, progress=bar.update, checkpoints=checkpoints)
            if checkpoints is not None:
                checkpoints.done(record)
        except TrialInterrupted as cut:  # Ctrl-C: what it trained, marked as cut off
            record = cut.record
        if args.json:
            print(json.dumps(record))
        else:
            print_summary(record)
        return {"ok": 0, "interrupted": 130}.get(record["status"], 1)

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
