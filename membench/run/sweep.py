"""The launch layer: a suite's trials -> Ray Tune (one Tune trial per pack of membench trials,
`membench.run.packed`; a pack of one is a lone trial) -> records.

The driver writes every record as its trial reports it (so a multi-node run needs no shared
filesystem) and skips trials that already have one, so the same command resumes: packs form
from the missing trials only, so a pack interrupted halfway retrains its unrecorded members.
Ray's own console output goes to RESULTS/ray.log, under a live progress display. How trials
become Tune trials, and what a worker does with one, is in `tune.py`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from rich.console import Console
from rich.live import Live

from membench.analysis.tuning import choose, extend_space
from membench.errors import MembenchError
from membench.run.checkpoint import CHECKPOINTS, Checkpoints
from membench.run.climbing import climb
from membench.run.cluster import capture_output, check_fits, cluster_line, connect
from membench.run.display import SweepProgress, say
from membench.run.estimate import live_estimate
from membench.run.interrupts import sigterm_stops
from membench.run.packing import pack_plan, pack_size
from membench.run.record import INTERRUPTED
from membench.run.recorder import Recorder
from membench.run.tune import jobs_of, tune_run
from membench.store.records import (
    SUITE_FILE,
    TRIALS,
    check_owner,
    relabel,
    remove_stale_temps,
    select,
    trial_states,
    write_suite_file,
)
from membench.store.results import load_suite_results, trial_table
from membench.suite.trials import Suite


def run_suite(
    suite: Suite,
    results: Path,
    address: str | None = None,
    max_concurrent: int | None = None,
    rerun_failed: bool = False,
    force: bool = False,
    metric: str = "exact_match",
    console: Console | None = None,
    rerun_stale: bool = False,
    update_suite: bool = False,
    retry: str | None = None,
) -> int:
    """Train what is missing, then print and write the report. A tuned suite runs in two
    phases: the tuning trials, the choice of each cell's point from them, then the evaluation
    trials at the chosen points. Exit code: 0 when every trial has an ok record, 1 when some
    failed, are missing or are stale (made by other model code; listed, and retrained only with
    `rerun_stale`), 130 when interrupted. A folder made by another suite, or by this one
    before a change, is refused (`check_owner`) unless `update_suite`. `retry`: the command that
    retries failed and stale trials, where it is not `membench run` with a flag (compare)."""
    console = console or Console()
    if not update_suite:
        check_owner(results, suite, fixed_trials(suite))
    directory = results / TRIALS
    resume = retry or f"membench run {suite.path}" + (
        f" --results {results}" if results != Path("results") / suite.name else ""
    ) + (f" --address {address}" if address else "")
    failed_flag, stale_flag = ("", "") if retry else (" --rerun-failed", " --rerun-stale")
    options = (results, address, max_concurrent, rerun_failed, force, rerun_stale, console)
    tuning, choices, trained = [], None, False
    while suite.tune is not None:  # phase 1, again after each extension of the grid
        tuning = suite.tuning_trials()
        progress = train_missing(suite, tuning, "phase 1 of 2, tuning", *options)
        trained = trained or progress is not None
        if progress is not None and progress.interrupted:
            return interrupted(suite, tuning, directory, resume, console)
        choices = choose(trial_table(directory, tuning), suite.tune)
        wider = extend_space(suite.tune, choices, suite.train)
        if wider is None:
            break
        added = {k: [v for v in wider.space[k] if v not in suite.tune.space[k]]
                 for k in wider.space if wider.space[k] != suite.tune.space[k]}  # fmt: skip
        say(
            console,
            f"{suite.name}: a chosen point sits on the edge of the grid; extending it by "
            + "; ".join(f"{k} {', '.join(f'{v:g}' for v in vs)}" for k, vs in added.items())
            + f" ({wider.extend} more extensions allowed)",
        )
        suite.declared_tune = suite.declared_tune or suite.tune
        suite.tune = wider
    for task, variant in unchosen(suite, choices):
        say(
            console,
            f"{task} / {variant}: no successful tuning trial, so no point to "
            f"evaluate: fix the failures and run `{resume}{failed_flag}`",
            "red",
        )
    trials = suite.trials(choices)
    what = "phase 2 of 2, evaluation at the chosen points" if suite.tune else "trials"
    if suite.climb is not None:  # each seed up its ladders, a level per round
        trials, progress, climbed = climb(suite, trials, what, options, console)
        trained = trained or climbed
    else:
        progress = train_missing(suite, trials, what, *options)
        trained = trained or progress is not None
    relabel(suite.name, tuning + trials, directory)
    write_suite_file(results, suite, trials, tuning, choices)  # `membench report` reads it
    if progress is not None and progress.interrupted:
        return interrupted(suite, trials, directory, resume, console)
    report_suite(suite, results, metric, console)
    states = trial_states(tuning + trials, directory)
    failed, missing, cut = (list(states.values()).count(s) for s in ("failed", "todo", "cut"))
    missing += len(unchosen(suite, choices)) * len(suite.seeds)
    stale = [t for t in suite.ordered(tuning + trials) if states[t.id] == "stale"]
    if stale:
        say(
            console,
            f"{len(stale)} trials were made by other model code than would run now (stale; "
            f"reported, marked): retrain them with `{resume}{stale_flag}`",
            "yellow",
        )
        for t in stale[:10]:
            say(console, f"  stale: {t.task} / {t.variant} seed {t.seed} ({t.id})", "yellow")
    if failed:
        say(console, f"{failed} trials failed: fix and run `{resume}{failed_flag}`", "red")
    if cut:
        say(console, f"{cut} trials were cut off before they finished: run `{resume}` again to "
            "retrain them", "yellow")  # fmt: skip
    if missing:
        say(console, f"{missing} trials have no record: run `{resume}` again", "yellow")
    if trained and tensorboard_installed():
        say(console, f"TensorBoard: tensorboard --logdir {results / 'tune'}")
    return 1 if failed or missing or cut or stale else 0


def fixed_trials(suite: Suite) -> list[str] | None:
    """The suite's trial ids where they do not depend on records (no tuning, no climb)."""
    return [t.id for t in suite.trials()] if suite.tune is None and suite.climb is None else None


def train_missing(
    suite, trials, what, results, address, max_concurrent, rerun_failed, force, rerun_stale, console
) -> SweepProgress | None:
    """Train the trials of `trials` that have no record (or failed or stale ones, or all, on
    request). Returns the run's progress, or None when there was nothing to train."""
    states = trial_states(trials, results / TRIALS)
    todo = select(trials, states, rerun_failed, force, rerun_stale)
    if not todo:
        say(
            console,
            f"{suite.name}: {what}: all {len(trials)} trials are recorded; nothing to train",
        )
        return None
    checkpoints = Checkpoints(results / CHECKPOINTS)
    saved = {f.name.split(".")[0] for f in checkpoints.folder.glob("*.pt*")}  # (no folder: none)
    retrain = {t.id for t in todo} if force else set()  # --force: from step 0, as asked
    for t in trials:  # recorded ok, or trained again from step 0: not needed
        if t.id in saved and (states[t.id] == "done" or t.id in retrain):
            checkpoints.remove(t.id)
            saved.discard(t.id)
    going_on = sum(t.id in saved and checkpoints.path(t.id).exists() for t in todo)
    say(
        console,
        f"{suite.name}: {what}: {len(todo)} of {len(trials)} trials to train "
        f"({len(trials) - len(todo)} already recorded"
        + (f"; {going_on} have checkpoints to go on from" if going_on else "")
        + ")",
    )
    plan = pack_plan([t.spec for t in todo], pack_size(suite.resources))
    if plan:
        say(console, plan)
    created = not results.exists()
    results.mkdir(parents=True, exist_ok=True)
    if not (results / SUITE_FILE).is_file():  # the folder is this suite's from its first record
        tuning = [t for t in trials if (t.tuning or {}).get("phase") == "tune"]
        write_suite_file(results, suite, [t for t in trials if t not in tuning], tuning)
    try:
        progress = launch(suite, todo, results, address, max_concurrent)
    except MembenchError:
        if created:
            shutil.rmtree(results, ignore_errors=True)
        raise
    say(console, progress.summary(final=True))
    for line in progress.failures[:10]:
        say(console, f"  failed: {line}", "red")
    return progress


def interrupted(suite, trials, directory, resume, console) -> int:
    left = sum(s in ("todo", "cut") for s in trial_states(trials, directory).values())
    say(console, f"interrupted: {left} trials left; run `{resume}` to train only those")
    return 130


def unchosen(suite: Suite, choices) -> list[tuple[str, str]]:
    """Cells of a tuned suite whose tuning trials all failed (so nothing was chosen)."""
    if suite.tune is None:
        return []
    cells = [(t.label, v.name) for t in suite.tasks for v in suite.variants]
    return [c for c in cells if (c if "task" in suite.tune.per else (c[1],)) not in choices]


def tensorboard_installed() -> bool:
    """Only point at TensorBoard where a user can run it."""
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def report_suite(suite: Suite, results: Path, metric: str, console) -> None:
    """The suite's trials reported as `membench report RESULTS` does; printed and saved."""
    from membench.report.model import build_report
    from membench.report.render import write_report
    from membench.report.terminal import print_report

    found = load_suite_results(results)
    df = found.table
    if not (df["status"] == "ok").any():
        say(console, "no successful trials: no report")
        return
    try:
        report = build_report(
            df,
            metric,
            suite.baseline,
            unused=found.unused,
            tuning=found.tuning,
            tune=found.tune,
            references=found.references,
            planned=found.planned,
            design=found.design,
        )
    except ValueError as err:  # e.g. no record of the baseline yet
        say(console, f"no report: {err}", "yellow")
        return
    written = write_report(report, results / "report")  # first: skipped plots become notes
    print_report(report, console, full=str(results / "report" / "report.md"))
    say(console, f"report: {len(written)} files in {results / 'report'}")


def launch(suite, todo, results: Path, address, max_concurrent) -> SweepProgress:
    """Run `todo` on Ray Tune with a live display; Ctrl-C stops cleanly (progress.interrupted)."""
    import ray

    os.environ.update(
        TUNE_DISABLE_AUTO_CALLBACK_LOGGERS="1",  # we add TensorBoard only: no per-trial CSV/JSON
        TUNE_DISABLE_SIGINT_HANDLER="1",  # Ctrl-C raises at once; records so far are complete
        RAY_CHDIR_TO_TRIAL_DIR="0",  # a user's factory may read files relative to cwd
    )
    remove_stale_temps(results / TRIALS)
    with contextlib.ExitStack() as stack, capture_output(results / "ray.log") as terminal:
        display = Console(file=terminal)
        progress = SweepProgress(suite.name, len(todo), None if display.is_terminal else display)
        owned = connect(address)
        stack.enter_context(sigterm_stops())  # ray.init set its own: exit, nothing recorded
        say(display, cluster_line(address))
        progress.plan(*live_estimate(suite, todo, results, max_concurrent))
        say(display, f"Ray's own output: {results / 'ray.log'}")
        recorder = Recorder(jobs_of(suite, todo, results), results / TRIALS, suite.name, progress)
        try:
            check_fits(suite)
            # Python-level prints (Tune's experiment box) go to ray.log with the rest, not
            # through the live display onto the terminal
            live = Live(
                progress,
                console=display,
                refresh_per_second=2,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            with live if display.is_terminal else contextlib.nullcontext():
                tune_run(suite, recorder, results, max_concurrent)
        except KeyboardInterrupt:
            progress.interrupted = True
            recorder.cut_off(INTERRUPTED)  # before Ray stops the workers
        finally:
            if owned:
                ray.shutdown()
    return progress
