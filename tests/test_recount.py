"""Records counted before attention was counted on the CPU are counted again, once, with
the old value kept, and the report says when a folder still holds such records."""

import json
from pathlib import Path

import pytest

from membench.models.flops import step_flops
from membench.report.model import build_report
from membench.store.records import read_records
from membench.store.recount import main, recount_flops
from membench.store.results import load_results

CORE = Path(__file__).parent.parent / "results" / "core-v1" / "trials"


def old_records(tmp_path, n=6):
    """A few shipped records as they were before the count (recounted ones put back: their
    old value, no flops_count), in a scratch folder."""
    target = tmp_path / "results" / "trials"
    target.mkdir(parents=True)
    for path in sorted(CORE.glob("*.json"))[:n]:
        record = json.loads(path.read_text())
        before = record.pop("recounted", None)
        if before is not None:
            record.pop("flops_count")
            record["metrics"]["train_flops"] = before["train_flops_before"]
        assert "flops_count" not in record
        (target / path.name).write_text(json.dumps(record, indent=1))
    return tmp_path / "results"


def test_old_records_are_counted_again_with_attention_once(tmp_path):
    results = old_records(tmp_path)
    before = read_records(results / "trials")
    df = load_results(results)
    assert build_report(df, "exact_match").notes[-1].startswith("FLOPs: 6 of 6 records")
    assert recount_flops(results) == 6
    after = read_records(results / "trials")
    for trial_id, record in after.items():
        old = before[trial_id]
        m = record["metrics"]
        per_step = step_flops(old["model"], old["task"], old["task_params"],
                              old["train"]["batch_size"], False)  # fmt: skip
        assert m["train_flops"] == pytest.approx(per_step * m["steps_trained"])
        assert m["train_flops"] > old["metrics"]["train_flops"]  # attention added
        assert record["recounted"]["train_flops_before"] == old["metrics"]["train_flops"]
        assert record["flops_count"] == 2
        rest = {k: v for k, v in record.items() if k not in ("metrics", "recounted", "flops_count")}
        assert rest == {k: v for k, v in old.items() if k != "metrics"}  # nothing else changed
    assert recount_flops(results) == 0  # once
    assert not any(n.startswith("FLOPs") for n in build_report(load_results(results)).notes)


def test_the_module_runs_as_a_command(tmp_path, capsys):
    results = old_records(tmp_path, 2)
    assert main([str(results)]) == 0
    assert "2 records counted again" in capsys.readouterr().out
    assert main([str(tmp_path / "nowhere")]) == 2
