"""Experiment tracking through Ray Tune's own logger callbacks: TensorBoard (always), MLflow
and Weights & Biases on request (`--log`, or `log:` in a suite). Each trial's learning curve
(every evaluation) and its final metrics (`final/...`) are logged, tagged with its task,
variant and seed. MLflow writes to RESULTS/mlruns unless MLFLOW_TRACKING_URI says otherwise;
W&B follows its own settings (WANDB_MODE=offline writes under RESULTS/wandb without network).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from membench.errors import MembenchError

LOGGERS = ("tensorboard", "mlflow", "wandb")
PACKAGES = {"mlflow": "mlflow", "wandb": "wandb"}


def check_loggers(names: list[str], where: str = "--log") -> list[str]:
    """Known names whose package is installed, else one line saying how to get it."""
    from membench.registry import did_you_mean

    for name in names:
        if name not in LOGGERS:
            raise MembenchError(
                f"{where}: unknown logger '{name}': {did_you_mean(name, list(LOGGERS))}"
                f"use {', '.join(LOGGERS)}"
            )
        package = PACKAGES.get(name)
        if package and importlib.util.find_spec(package) is None:
            raise MembenchError(
                f"{where}: {name} is not installed: pip install '{package}' (or membench[track])"
            )
    return list(dict.fromkeys(names))


def tags(trial) -> dict[str, str]:
    """A Tune trial's membench names (its first member's, for a pack)."""
    config = trial.config["trial"]
    return {k: str(config[k]) for k in ("suite", "task", "variant", "seed") if k in config}


def callbacks(names: list[str], results: Path, suite: str) -> list:
    """Ray Tune logger callbacks for `names` (TensorBoard is always on)."""
    from ray.tune.logger import TBXLoggerCallback

    out = [TBXLoggerCallback()]
    if "mlflow" in names:
        out.append(mlflow_callback(results, suite))
    if "wandb" in names:
        out.append(wandb_callback(results, suite))
    return out


def mlflow_callback(results: Path, suite: str):
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    class Tagged(MLflowLoggerCallback):
        """MLflow runs tagged with the trial's task, variant and seed."""

        def log_trial_start(self, trial):
            saved = self.tags
            self.tags = {**(saved or {}), **tags(trial)}
            try:
                super().log_trial_start(trial)
            finally:
                self.tags = saved

    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:  # a local file store beside the records (MLflow asks to allow it by name)
        uri = (results / "mlruns").resolve().as_uri()
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return Tagged(tracking_uri=uri, experiment_name=suite, tags={})


def wandb_callback(results: Path, suite: str):
    from ray.air.integrations.wandb import WandbLoggerCallback

    class Tagged(WandbLoggerCallback):
        """W&B runs tagged with the trial's task, variant and seed."""

        def _start_logging_actor(self, trial, exclude_results, **init):
            init["tags"] = [f"{k}={v}" for k, v in tags(trial).items()]
            return super()._start_logging_actor(trial, exclude_results, **init)

    options = {"dir": str(results.resolve())}
    if os.environ.get("WANDB_MODE"):
        options["mode"] = os.environ["WANDB_MODE"]
    (results / "wandb").mkdir(parents=True, exist_ok=True)
    return Tagged(project=suite, **options)
