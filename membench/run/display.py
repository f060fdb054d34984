"""What a sweep shows: the dry-run plan, and the live progress of running trials (rich).

Presentation: counts and rows in, rich renderables and plain lines out; no Ray. The dry run
reads the records (only to show each trial's state). Also one trial's progress bar and summary
(`membench train`).
"""

from __future__ import annotations

import textwrap
import threading
import time
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.markup import escape as rich_escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from pathlib import Path

    from membench.config.identity import TrialSpec
    from membench.suite.trials import Suite


STATE_STYLE = {"done": "green", "failed": "red", "todo": "", "rerun": "yellow", "stale": "magenta"}
STATE_STYLE["cut"] = "yellow"  # interrupted before it finished: trained again


def dry_run(
    suite: Suite, results: Path, rerun_failed: bool, force: bool, rerun_stale: bool, console
) -> None:
    """What `membench run` would train, checked against the records in `results`. A tuned
    suite's evaluation trials are listed once its tuning trials are all recorded."""
    from membench.analysis.tuning import choose
    from membench.store.records import TRIALS, select, trial_states
    from membench.store.results import trial_table

    directory = results / TRIALS
    where = f"{directory}" if directory.is_dir() else f"{directory} (none yet)"
    say(console, f"records checked: {where}")
    choices = None
    if suite.tune is not None:
        tuning = suite.tuning_trials()
        states = trial_states(tuning, directory)
        todo = select(tuning, states, rerun_failed, force, rerun_stale)
        title = (
            f"{suite.name}, phase 1 of 2 (tuning): {len(suite.tasks)} tasks × "
            f"{len(suite.variants)} variants × {len(suite.tune.points)} points × "
            f"{len(suite.tune.seeds)} tuning seeds = {len(tuning)} trials"
        )
        print_plan(suite, tuning, states, todo, console, title)
        say_estimate(suite, todo, directory, console, "phase 1: ")
        if todo or {"todo", "cut"} & set(states.values()):
            cells = len(suite.tasks) * len(suite.variants) * len(suite.seeds)
            say(
                console,
                f"phase 2 of 2 (evaluation): {cells} trials at the points phase 1 chooses "
                f"({suite.tune.metric}, per {' × '.join(suite.tune.per)}); they are listed once "
                "phase 1 is recorded",
            )
            return
        choices = choose(trial_table(directory, tuning), suite.tune)
    trials = suite.trials(choices)
    states = trial_states(trials, directory)
    todo = select(trials, states, rerun_failed, force, rerun_stale)
    title = (
        f"{suite.name}: {len(suite.tasks)} tasks × {len(suite.variants)} variants × "
        f"{len(suite.seeds)} seeds = {len(trials)} trials"
    )
    if suite.tune is not None:
        title = f"{suite.name}, phase 2 of 2 (evaluation at the chosen points): {len(trials)}"
    if suite.climb is not None:  # the climb's next round, from the records so far
        from membench.run.climbing import climb_outcomes
        from membench.suite.climb import plan

        outcomes = climb_outcomes(trials, directory)
        climbed, _ = plan(suite, trials, outcomes, suite.climb.beyond)
        todo = select(climbed, states, rerun_failed, force, rerun_stale)
        title = (
            f"{suite.name}, a climb: at most {len(trials)} trials (every level of every "
            f"ladder); the next round trains {len(todo)} of the {len(climbed)} reached so far"
        )
        print_plan(suite, climbed, states, todo, console, title)
        say(console, "each round adds, per variant and seed, the level above one it solved")
        say_estimate(suite, todo, directory, console, "this round's ")
        return
    print_plan(suite, trials, states, todo, console, title)
    say_estimate(suite, todo, directory, console)


def say_estimate(suite: Suite, todo, directory, console, what: str = "") -> None:
    """The wall time `todo` should take on a local Ray here (`membench.run.estimate`)."""
    if not todo:
        return
    from membench.run.estimate import describe, estimate, local_slots

    est = estimate(todo, directory, local_slots(suite.resources.cpu))
    text = what + describe(est, len(todo))
    for line in textwrap.wrap(text, max(40, console.width), subsequent_indent="  "):
        say(console, line)


def print_plan(suite: Suite, trials, states, todo, console: Console, title: str) -> None:
    """Every trial with its state, the variants, and how many will run."""
    rerun = {t.id for t in todo}
    table = Table(title=title)
    columns = ("task", "variant", "seed", "id", "state")
    if any(t.tuning for t in trials):
        columns = ("task", "variant", "point", "seed", "id", "state")
    for column in columns:
        table.add_column(column)
    for t in suite.ordered(trials):
        state = states[t.id]
        state = "rerun" if t.id in rerun and state in ("done", "failed", "stale") else state
        point = [] if len(columns) == 5 else [t.tuning["point"].label]
        row = (t.task, t.variant, *point, str(t.seed), t.id)  # Text: labels like sort[length=32]
        table.add_row(*map(Text, row), Text(state, STATE_STYLE[state]))  # are not rich markup
    console.print(table)
    for variant in suite.variants:
        mark = " (baseline)" if variant.name == suite.baseline else ""
        text = f"  {variant.name}{mark}: {variant.summary()}"
        for line in textwrap.wrap(text, max(40, console.width), subsequent_indent="      "):
            say(console, line)  # wrapped at spaces, continued with a hanging indent
    for note in suite.notes:
        say(console, f"note: {note}", "yellow")
    done, failed, stale = (list(states.values()).count(s) for s in ("done", "failed", "stale"))
    skipped = failed and not any(states[t.id] == "failed" for t in todo)
    hint = " (skipped: --rerun-failed retries them)" if skipped else ""
    if stale:
        retrained = any(states[t.id] == "stale" for t in todo)
        hint += f", {stale} stale" + (
            "" if retrained else " (made by other model code: --rerun-stale retrains them)"
        )
    say(
        console,
        f"{len(todo)} of {len(trials)} trials will run; recorded: {done} done, "
        f"{failed} failed{hint}",
    )


class SweepProgress:
    """Counts and running trials, rendered live by rich (or a line per trial off a terminal)."""

    def __init__(self, suite: str, total: int, lines: Console | None):
        self.suite, self.total, self.lines = suite, total, lines
        self.started = time.monotonic()
        self.running: dict[str, dict[str, Any]] = {}
        self.counts = {"ok": 0, "failed": 0, "lost": 0}
        self.recorded: set[str] = set()
        self.failures: list[str] = []
        self.interrupted = False
        self.lock = threading.Lock()
        self.expect: dict[str, float] = {}  # trial id -> estimated seconds (run.estimate)
        self.slots = 1
        self.took: dict[str, float] = {}  # trial id -> seconds, for finished trials
        self.begun: dict[str, float] = {}  # trial id -> when it started

    def plan(self, expect: dict[str, float], slots: int) -> None:
        """The estimate the ETA starts from (and is scaled by as trials finish)."""
        self.expect, self.slots = dict(expect), max(1, slots)

    def start(self, trial_id: str, job: dict[str, Any]) -> None:
        with self.lock:
            self.running[trial_id] = {"job": job, "step": 0, "steps": job["spec"]["train"]["steps"]}
            self.begun[job["id"]] = time.monotonic()

    def update(self, trial_id: str, result: dict[str, Any]) -> None:
        with self.lock:
            if trial_id in self.running and "step" in result:
                self.running[trial_id].update(result)

    def finish(self, trial_id: str, record: dict[str, Any]) -> None:
        with self.lock:
            self.running.pop(trial_id, None)
            self.recorded.add(trial_id)
            if record["id"] in self.begun:
                self.took[record["id"]] = time.monotonic() - self.begun[record["id"]]
            self.counts["ok" if record["status"] == "ok" else "failed"] += 1
            name = f"{record['task_label']} {record['variant']} seed {record['seed']}"
            if record["status"] != "ok":
                self.failures.append(f"{name} ({record['id']}): {record['error']}")
        if self.lines:
            metrics = record.get("metrics") or {}
            score = (
                f"token acc {metrics['token_accuracy']:.3f} exact {metrics['exact_match']:.3f}"
                if record["status"] == "ok"
                else f"FAILED: {record['error']}"
            )
            say(self.lines, f"{self.summary()}  | {name}: {score}")

    def lose(self, trial_id: str) -> None:
        with self.lock:
            self.running.pop(trial_id, None)
            if trial_id not in self.recorded:
                self.counts["lost"] += 1

    def summary(self, final: bool = False) -> str:
        ok, failed, lost = self.counts.values()
        finished = ok + failed + lost
        elapsed = time.monotonic() - self.started
        if final:
            lost_text = f", {lost} lost (worker or node died)" if lost else ""
            return (
                f"{self.suite}: ran {finished} of {self.total} trials in {clock(elapsed)}: "
                f"{ok} ok, {failed} failed{lost_text}"
            )
        fraction = (finished + sum(r["step"] / r["steps"] for r in self.running.values())) / max(
            1, self.total
        )
        eta = clock(elapsed * (1 - fraction) / fraction) if fraction > 0 else "?"
        if self.expect:
            eta = clock(self.expected_left())
        todo = self.total - finished - len(self.running)
        return (
            f"{self.suite}: done {ok}  failed {failed}  running {len(self.running)}  todo {todo}"
            + (f"  lost {lost}" if lost else "")
            + f"  | elapsed {clock(elapsed)}  ETA {eta}"
        )

    def expected_left(self) -> float:
        """Seconds left by the estimate: the unfinished trials' estimates (a running one's
        less its share done) over the slots, scaled by how the finished ones compared."""
        done = [i for i in self.took if i in self.expect]
        expected_done = sum(self.expect[i] for i in done)
        scale = sum(self.took[i] for i in done) / expected_done if expected_done > 0 else 1.0
        scale = min(5.0, max(0.2, scale))
        running = {r["job"]["id"]: r["step"] / max(1, r["steps"]) for r in self.running.values()}
        left = sum(
            seconds * (1 - running.get(i, 0.0))
            for i, seconds in self.expect.items()
            if i not in self.took
        )
        return scale * left / self.slots

    def __rich__(self):
        with self.lock:
            table = Table(box=None, pad_edge=False)
            for column in ("task", "variant"):
                table.add_column(column)
            for column in ("seed", "step", "loss", "token acc", "exact"):
                table.add_column(column, justify="right")
            for r in self.running.values():
                job = r["job"]
                keys = ("loss", "token_accuracy", "exact_match")
                scores = [f"{r[k]:.3f}" if k in r else "" for k in keys]
                step = f"{r['step']}/{r['steps']}"
                row = (job["task"], job["variant"], str(job["seed"]), step, *scores)
                table.add_row(*map(Text, row))
            return Group(Text(self.summary(), style="bold"), table)


def say(console: Console, text: str, style: str = "") -> None:
    """A plain line: no markup parsing (labels hold brackets), no wrapping (logs stay greppable)."""
    console.print(Text(text, style=style), soft_wrap=True)


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TrialBar:
    """A rich progress bar on stderr (stdout stays clean for --json)."""

    def __init__(self, spec: TrialSpec, console=None):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(  # about 75 columns: fits an 80-column terminal whole
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=12),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[scores]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
        )
        label = f"{spec.task} seed {spec.seed}"
        self.bar = self.progress.add_task(label, total=spec.training.steps, scores="")
        self.started = False

    def __enter__(self):
        return self  # the bar appears with the first evaluation: a bad spec prints one line only

    def __exit__(self, *exc):
        if self.started:
            self.progress.stop()
        return False

    def update(self, point: dict[str, Any]) -> None:
        scores = (
            f"loss {point['loss']:.3f} acc {point['token_accuracy']:.3f} "
            f"exact {point['exact_match']:.3f}"
        )
        if not self.started:
            self.progress.start()
            self.started = True
        self.progress.update(self.bar, completed=point["step"], scores=scores)


def print_summary(record: dict[str, Any], console=None) -> None:
    """A human-readable end-of-trial summary (for `membench train` without --json): short
    lines, so an 80-column terminal never breaks a number, with the model named."""
    from rich.console import Console

    from membench.suite.trials import Variant

    console = console or Console()
    if record["status"] == "interrupted":
        m, curve = record["metrics"], record.get("curve") or []
        last = f", last evaluation: exact match {m['exact_match']:.3f}" if curve else ""
        console.print(
            f"[yellow]trial {record['id']} interrupted[/yellow] after ~{m['steps_trained']:,} "
            f"steps{last}"
        )
        if record.get("checkpoint_step") is not None:
            console.print(
                f"a checkpoint at step {record['checkpoint_step']:,}: run it again to go on"
            )
        return
    if record["status"] != "ok":
        error = rich_escape(str(record["error"]))  # '[batch, ...]' is text, not markup
        console.print(f"[red]trial {record['id']} failed:[/red] {error}")
        return
    m = record["metrics"]
    model = Variant("", record["model"], record.get("factory")).summary()
    model = "the plain Transformer" if model == "defaults" else model
    solved = f"solved at step {m['steps_to_solve']}" if m["solved"] else "not solved"
    for line in (
        f"trial {record['id']}: {record['task']} {record['task_params']}",
        f"model: {model}",
        f"token accuracy {m['token_accuracy']:.3f} (chance {m['chance']:.3f}), exact match "
        f"{m['exact_match']:.3f}, {solved}",
        f"loss {m['final_loss']:.4f}, params {m['params']:,}, {m['train_seconds']:.1f} s, "
        f"{m['tokens_per_second']:,.0f} tok/s",
    ):
        for part in textwrap.wrap(line, max(40, console.width), subsequent_indent="  "):
            console.print(part, highlight=False, soft_wrap=True)
    per = (record.get("per_position") or {}).get("token_accuracy")
    if per:
        from membench.analysis.positions import describe

        values = " ".join(f"{a:.2f}" for a in per)
        line = f"per position: {values} ({describe(per, m['chance'])})"
        for part in textwrap.wrap(line, max(40, console.width), subsequent_indent="  "):
            console.print(part, highlight=False, soft_wrap=True)
    if record.get("stopped") == "plateau":
        console.print(f"stopped at step {m['steps_trained']}: no improvement (train.patience)")
    if record.get("resumed_from_step") is not None:
        console.print(f"went on from its checkpoint at step {record['resumed_from_step']:,}")
    if record.get("checkpoint_unused"):
        console.print(record["checkpoint_unused"], highlight=False)
