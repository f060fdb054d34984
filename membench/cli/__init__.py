"""The `membench` command. Each subcommand is one `add_*` function (parser + handler), grouped
by what it works on: one trial (`trial.py`), a suite (`suite.py`), what there is (`info.py`).
The work itself is done by the library, imported lazily so `membench tasks` stays instant. User
errors print one line on stderr and exit 2."""

from __future__ import annotations

import argparse
import sys

from membench.cli.compare import add_compare
from membench.cli.export import add_export
from membench.cli.info import add_schema, add_tasks
from membench.cli.suite import add_report, add_run
from membench.cli.trial import add_attention, add_train
from membench.cli.verify import add_verify
from membench.errors import MembenchError
from membench.run.interrupts import sigterm_stops

COMMANDS = [
    add_tasks,
    add_train,
    add_attention,
    add_run,
    add_report,
    add_compare,
    add_export,
    add_verify,
    add_schema,
]


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
        with sigterm_stops():
            return args.handler(args) or 0
    except MembenchError as err:
        print(f"membench {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `membench schema | head`: the reader has what it wanted
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"membench {args.command}: interrupted", file=sys.stderr)
        return 130
