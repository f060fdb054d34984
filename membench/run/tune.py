"""From a list of trials to Ray Tune and back: what a worker needs of each trial (`jobs_of`),
one Tune trial per pack of membench trials (`tune_run`), and what a worker does with one
(`train_one`: train the pack, report each record the moment it is complete)."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from pathlib import Path
from typing import Any

from membench.config.identity import TrialSpec
from membench.run.checkpoint import CHECKPOINTS, interval_s
from membench.run.packing import pack_indices, pack_size
from membench.run.recorder import Recorder
from membench.store.records import labels
from membench.suite.trials import Suite, Trial, add_code_paths


def jobs_of(suite: Suite, todo: list[Trial], results: Path) -> list[dict[str, Any]]:
    """What a worker needs of each trial, and the labels its record gets. A long trial's
    checkpoints go in RESULTS/checkpoints (`membench.run.checkpoint`): on this machine's disk,
    so on a cluster only a node that shares it can go on from them (others start again)."""
    every = interval_s()  # the driver's setting, for every node
    return [
        {
            "id": t.id,
            "task": t.task,
            "variant": t.variant,
            "seed": t.seed,
            "labels": labels(suite.name, t),
            "spec": t.spec.to_dict(),
            "cpu": suite.resources.cpu,
            "gpu": suite.resources.gpu,
            "code_paths": suite.code_paths,
            "checkpoints": str((results / CHECKPOINTS).resolve()),
            "checkpoint_every_s": every,
        }
        for t in todo
    ]


def tune_run(suite: Suite, recorder: Recorder, results: Path, max_concurrent) -> None:
    from ray import tune

    from membench.run.tracking import callbacks

    # Tune's end-of-run analysis looks for the per-trial CSV/JSON files we turned off
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    jobs = recorder.jobs

    # Each Tune trial's config carries its own names: Tune pickles the name functions into every
    # trial's saved state, so closures over all jobs would make that state quadratic in trials.
    configs = []
    specs = [TrialSpec(**job["spec"]) for job in jobs]
    for members in pack_indices(specs, pack_size(suite.resources)):
        job = jobs[members[0]]
        label = f"{job['task']}-{job['variant']}-s{job['seed']}".replace("]", "")
        point = job["labels"].get("tuning", {})
        if point.get("phase") == "tune":
            label += "-" + point["label"].replace(", ", "-")
        if len(members) > 1:  # a pack: named by its first member and its size
            label += f"-pack{len(members)}"
        name = re.sub(r"[^A-Za-z0-9_.=+-]", "_", label)  # sort[length=32] -> sort_length=32
        configs.append({
            "members": members, "name": name, "dirname": f"{name}-{job['id']}",
            "suite": suite.name, "task": job["task"], "variant": job["variant"],
            "seed": job["seed"],
        })  # fmt: skip
    trainable = tune.with_parameters(train_one, jobs=jobs)
    resources = {"cpu": suite.resources.cpu, "gpu": suite.resources.gpu}
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        param_space={"trial": tune.grid_search(configs)},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=max_concurrent,
            reuse_actors=True,
            trial_name_creator=lambda trial: trial.config["trial"]["name"],
            trial_dirname_creator=lambda trial: trial.config["trial"]["dirname"],
        ),
        run_config=tune.RunConfig(
            name=time.strftime("run-%Y%m%d-%H%M%S"),
            storage_path=str((results / "tune").resolve()),
            verbose=0,
            callbacks=[
                recorder,
                *callbacks(suite.log, results, suite.name),
            ],
            failure_config=tune.FailureConfig(max_failures=1),  # a lost worker: retry once
        ),
    )
    tuner.fit()


def train_one(config: dict[str, Any], jobs: list[dict[str, Any]]) -> None:
    """On a Ray worker: one pack of membench trials (often of one); metrics reported as they
    train, each record the moment it is complete (`member`: its index in the pack)."""
    import ray
    import torch
    from ray import tune

    from membench.run.checkpoint import Checkpoints
    from membench.run.packed import run_pack

    members = [jobs[i] for i in config["trial"]["members"]]
    torch.set_num_threads(max(1, int(members[0]["cpu"])))
    add_code_paths(members[0]["code_paths"])
    device = "cuda" if members[0]["gpu"] > 0 else "cpu"  # Ray sets CUDA_VISIBLE_DEVICES
    specs = [
        TrialSpec(**{**job["spec"], "train": {**job["spec"]["train"], "device": device}})
        for job in members
    ]
    reported = set()

    def report(index: int, record: dict[str, Any]) -> None:
        record["node_id"] = ray.get_runtime_context().get_node_id()
        last = (record.get("curve") or [{}])[-1]
        tune.report({**last, "member": index, "record": json.dumps(record)})
        reported.add(index)

    try:
        folder = members[0].get("checkpoints")  # (a driver from before checkpoints: none)
        every = members[0].get("checkpoint_every_s")
        checkpoints = Checkpoints(Path(folder), every) if folder else None
        progress = lambda i, point: tune.report({**point, "member": i})  # noqa: E731
        run_pack(specs, progress, done=report, checkpoints=checkpoints)
    except Exception as err:  # e.g. a user's model that does not import on this node
        for i, (job, spec) in enumerate(zip(members, specs, strict=True)):
            if i not in reported:
                record = {
                    "id": job["id"],
                    **spec.to_dict(),
                    "status": "failed",
                    "error": f"{type(err).__name__}: {err}",
                    "host": socket.gethostname(),
                }
                report(i, record)
