"""Experiment tracking end to end through `membench run --log`: TensorBoard's event files,
MLflow's local file store and W&B's offline runs, read back with the curve, final metrics and
the task, variant and seed of each trial."""

import os
import struct
from pathlib import Path

import pytest
import yaml

from membench.cli import main

pytestmark = pytest.mark.ray

SUITE = {
    "name": "tracked",
    "tasks": [{"copy": {"length": 4, "vocab": 3}}],
    "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32},
    "variants": {"baseline": {}, "mem2": {"mem_tokens": 2}},
    "seeds": 1,
    "train": {"steps": 30, "eval_every": 10, "eval_size": 64, "attention": False},
}


def events(path: Path) -> list:
    """The Event protos of a TensorBoard event file (TFRecord: length, crc, data, crc)."""
    from tensorboardX.proto import event_pb2

    out, data = [], path.read_bytes()
    at = 0
    while at < len(data):
        (length,) = struct.unpack("<Q", data[at : at + 8])
        body = data[at + 12 : at + 12 + length]
        at += 12 + length + 4
        event = event_pb2.Event()
        event.ParseFromString(body)
        out.append(event)
    return out


def test_run_logs_to_tensorboard_mlflow_and_wandb_offline(ray_local, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    path, results = tmp_path / "tracked.yaml", tmp_path / "results"
    path.write_text(yaml.safe_dump(SUITE))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    argv = ["run", str(path), "--results", str(results), "--log", "mlflow", "--log", "wandb"]
    assert main(argv) == 0

    # TensorBoard: each trial's curve (3 evaluations) and its final metrics
    (run,) = sorted((results / "tune").iterdir())
    files = sorted(run.glob("*/events.out.tfevents.*"))
    assert len(files) == 2
    tags = {v.tag for e in events(files[0]) for v in e.summary.value}
    assert "ray/tune/exact_match" in tags and "ray/tune/final/exact_match" in tags

    # MLflow: one run per trial, tagged, with the curve's history and the final metrics
    client = MlflowClient((results / "mlruns").resolve().as_uri())
    experiment = client.get_experiment_by_name("tracked")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["variant"] for r in runs) == ["baseline", "mem2"]
    assert {r.data.tags["task"] for r in runs} == {"copy[length=4,vocab=3]"}
    assert {r.data.tags["seed"] for r in runs} == {"0"}
    for r in runs:
        assert "final/exact_match" in r.data.metrics
        history = client.get_metric_history(r.info.run_id, "token_accuracy")
        assert len(history) >= 3

    # W&B offline: a run per trial, under RESULTS/wandb, no network
    offline = list((results / "wandb").rglob("offline-run-*"))
    assert len(offline) == 2, offline
    assert os.environ["WANDB_MODE"] == "offline"


def test_an_unknown_or_missing_logger_is_one_line(capsys, tmp_path):
    path = tmp_path / "tracked.yaml"
    path.write_text(yaml.safe_dump(SUITE))
    assert main(["run", str(path), "--log", "mlfow", "--dry-run"]) == 2
    assert "unknown logger 'mlfow': did you mean 'mlflow'?" in capsys.readouterr().err
