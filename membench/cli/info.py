"""`membench tasks` and `membench schema`: what there is to run, and the shapes of a suite
file and a record."""

from __future__ import annotations

import json


def add_tasks(sub) -> None:
    parser = sub.add_parser("tasks", help="list task generators and named task instances")

    def handler(args) -> int:
        from rich.console import Console
        from rich.table import Table

        from membench import tasks
        from membench.config.instances import named_tasks

        console = Console()
        wide = console.width >= 110  # narrower: descriptions go below, so names stay whole
        table = Table(title="Tasks (membench train --task NAME --set key=value)")
        columns = ["name (generator)", "parameters", "src/tgt", "chance"]
        for column in columns + ["description"] * wide:
            table.add_column(column, no_wrap=column != "description")
        descriptions = []
        for name, instance in sorted(named_tasks().items()):
            generator = tasks.get(instance["task"])
            params = generator.resolve(instance["params"])
            src_len, tgt_len = generator.lengths(**params)
            row = [
                name if instance["task"] == name else f"{name}\n({instance['task']})",
                "\n".join(f"{k}={v}" for k, v in params.items()),
                f"{src_len}/{tgt_len}",
                f"{generator.chance(**params):.3g}",
            ]
            table.add_row(*row, *[instance["description"]] * wide)
            descriptions.append(f"[bold]{name}[/]: {instance['description']}")
        console.print(table)
        if not wide:
            for line in descriptions:
                console.print(line, highlight=False)
        return 0

    parser.set_defaults(handler=handler)


def add_schema(sub) -> None:
    parser = sub.add_parser(
        "schema", help="print the JSON Schema of a suite file (for editors) or of a trial record"
    )
    parser.add_argument("which", nargs="?", choices=["suite", "record"], default="suite")

    def handler(args) -> int:
        from membench.suite.schema import record_schema, suite_schema

        schema = suite_schema() if args.which == "suite" else record_schema()
        print(json.dumps(schema, indent=1))
        return 0

    parser.set_defaults(handler=handler)
