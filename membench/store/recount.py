"""Count the training FLOPs of records made before attention was counted on the CPU
(`flops_count` 1, `membench.models.attention_flops`) again, so one folder's FLOPs are one
count. A record's other fields are left as they are; the old value is kept in the record
(`recounted.train_flops_before`), and the count is what that trial computed (full logits: it
predates scored rows only).

    python -m membench.store.recount RESULTS [RESULTS ...]
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

from membench.errors import MembenchError
from membench.models.attention_flops import FLOPS_COUNT
from membench.models.flops import step_flops
from membench.store.records import TRIALS, read_records, write_record

WHY = "counted again with attention (the CPU count had left it out); full logits, as trained"


def recount_flops(results: Path) -> int:
    """Records of `results` counted again (ok records of built-in models without
    `flops_count`); returns how many."""
    directory = results / TRIALS
    if not directory.is_dir():
        raise MembenchError(f"{results}: no such results directory (expected RESULTS/{TRIALS})")
    done = 0
    for record in read_records(directory, strict=True).values():
        metrics = record.get("metrics") or {}
        if record.get("flops_count") or record.get("status") != "ok" or record.get("factory"):
            continue
        if "train_flops" not in metrics or "steps_trained" not in metrics:
            continue
        batch = record["train"]["batch_size"]
        per_step = step_flops(record["model"], record["task"], record["task_params"], batch, False)
        record["recounted"] = {
            "train_flops_before": metrics["train_flops"],
            "on": date.today().isoformat(),
            "why": WHY,
        }
        metrics["train_flops"] = per_step * metrics["steps_trained"]
        record["flops_count"] = FLOPS_COUNT
        write_record(directory, record)
        done += 1
    return done


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        for folder in argv:
            print(f"{folder}: {recount_flops(Path(folder))} records counted again")
    except MembenchError as err:
        print(f"recount: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
