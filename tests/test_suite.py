"""Suite files -> trials, strict validation through the CLI, the record store (no Ray here)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from membench.cli import main
from membench.config.identity import make_spec
from membench.run.sweep import run_suite
from membench.store.records import read_records, remove_stale_temps, write_record
from membench.store.results import load_results
from membench.suite.grid import grid_name
from membench.suite.load import load_suite

ROOT = Path(__file__).resolve().parent.parent
TINY = {
    "name": "tiny",
    "tasks": [{"copy": {"length": 4, "vocab": 3}}],
    "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32},
    "variants": {"baseline": {}, "mem4": {"mem_tokens": 4}},
    "seeds": 2,
    "train": {"steps": 30, "eval_every": 10, "eval_size": 64, "attention": False},
}

PLAIN = {k: v for k, v in TINY.items() if k != "variants"}


def write(tmp_path: Path, suite: dict, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def test_shipped_suites_expand():
    smoke = load_suite(ROOT / "suites/smoke.yaml")
    assert len(smoke.tasks) == 2 and len(smoke.variants) == 2 and smoke.seeds == [0, 1]
    assert len(smoke.trials()) == 8
    core = load_suite(ROOT / "suites/core-v1.yaml")
    labels = [t.label for t in core.tasks]
    assert labels == ["copy", "sort", "assoc_recall", "long_range_sum"]
    assert core.baseline == "baseline" and len(core.seeds) >= 3
    names = [v.name for v in core.variants]
    assert {"baseline", "mem5", "mem10", "mem20", "memctrl10", "bottleneck8"} <= set(names)
    assert len({t.id for t in core.trials()}) == len(labels) * len(names) * len(core.seeds)
    capacity = load_suite(ROOT / "suites/capacity.yaml")
    assert [t.label for t in capacity.tasks] == [f"copy[length={n}]" for n in (8, 16, 32)]
    assert len(capacity.trials()) == 3 * 5 * len(capacity.seeds)
    assert capacity.train["patience"] == 20 and capacity.train["steps"] == 10000


def test_task_overrides_and_sweeps_get_readable_labels(tmp_path):
    suite = load_suite(
        write(
            tmp_path,
            {**TINY, "tasks": ["copy", {"sort": {"length": [8, 12]}}, {"copy": {"vocab": 4}}]},
        )
    )
    assert [t.label for t in suite.tasks] == [
        "copy",
        "sort[length=8]",
        "sort[length=12]",
        "copy[vocab=4]",
    ]
    assert suite.tasks[2].overrides == {"length": 12}


def test_grid_is_a_named_cartesian_product_without_invalid_combinations(tmp_path):
    grid = {"mem_tokens": [0, 8], "bottleneck": [False, True]}
    variants = {"ctrl": {"mem_tokens": 4, "controller": "dedicated"}}
    suite = load_suite(write(tmp_path, {**TINY, "variants": variants, "grid": grid}))
    assert [v.name for v in suite.variants] == ["ctrl", "mem0", "mem8", "mem8-bottleneck"]
    assert suite.variants[3].model["bottleneck"] is True and suite.baseline == "ctrl"
    assert len(suite.notes) == 1 and "mem0-bottleneck" in suite.notes[0]
    assert grid_name({"mem_tokens": 10, "controller": "dedicated"}) == "mem10-ctrl"
    assert grid_name({"controller": "shared", "bottleneck": False}) == "base"
    assert grid_name({"d_model": 32, "factory": "pkg.models:build"}) == "d32-build"


def test_grid_alone_and_default_baseline_and_seed_lists(tmp_path):
    suite = load_suite(write(tmp_path, {**PLAIN, "grid": {"mem_tokens": [0, 4]}, "seeds": [3, 7]}))
    assert [v.name for v in suite.variants] == ["mem0", "mem4"] and suite.baseline == "mem0"
    assert suite.seeds == [3, 7]
    plain = load_suite(write(tmp_path, PLAIN))
    assert [v.name for v in plain.variants] == ["base"] and plain.seeds == [0, 1]


def test_trial_ids_are_the_ids_of_membench_train(tmp_path):
    suite = load_suite(write(tmp_path, TINY))
    trials = suite.trials()
    assert [(t.task, t.variant, t.seed) for t in trials][:3] == [
        ("copy[length=4,vocab=3]", "baseline", 0),
        ("copy[length=4,vocab=3]", "mem4", 0),
        ("copy[length=4,vocab=3]", "baseline", 1),
    ]  # seed-major: an interrupted sweep has whole comparisons for its first seeds
    spec = make_spec(
        "copy", {"length": 4, "vocab": 3}, {**TINY["model"], "mem_tokens": 4}, TINY["train"], 0
    )
    assert trials[1].id == spec.trial_id()
    renamed = load_suite(
        write(tmp_path, {**TINY, "variants": {"baseline": {}, "m4": {"mem_tokens": 4}}})
    )
    assert [t.id for t in renamed.trials()] == [t.id for t in trials]


MALFORMED = [
    ("unknown top-level key", {"variantz": {}}, "unknown key 'variantz': did you mean 'variants'?"),
    ("no tasks", {"tasks": None}, "tasks: expected a list of task names"),
    ("unknown task", {"tasks": ["cpy"]}, "tasks[0]: unknown task 'cpy': did you mean 'copy'?"),
    (
        "unknown task parameter",
        {"tasks": [{"sort": {"lenght": 8}}]},
        "tasks[0]: unknown parameter 'lenght' for task 'sort': did you mean 'length'?",
    ),
    ("task parameter type", {"tasks": [{"sort": {"length": "long"}}]}, "must be an integer"),
    ("task parameter range", {"tasks": [{"sort": {"length": 0}}]}, "out of range"),
    ("empty sweep", {"tasks": [{"sort": {"length": []}}]}, "tasks[0].sort.length: empty list"),
    (
        "same task twice",
        {"tasks": ["sort", {"sort": {"length": 16}}]},
        "is the same task as 'sort'",
    ),
    (
        "unknown model key",
        {"variants": {"baseline": {}, "m": {"mem_token": 4}}},
        "variants.m: unknown key 'mem_token': did you mean 'mem_tokens'?",
    ),
    ("model type", {"model": {"d_model": "big"}}, "model.d_model: expected int, got 'big'"),
    ("train not a mapping", {"train": [100]}, "train: expected a mapping, got [100]"),
    (
        "variant not a mapping",
        {"variants": {"baseline": {}, "m": [4]}},
        "variants.m: expected a mapping",
    ),
    (
        "model choice",
        {"variants": {"baseline": {}, "c": {"mem_tokens": 4, "controller": "dedicate"}}},
        "variants.c.controller: 'dedicate' is not one of shared, dedicated, dedicated_shared: "
        "did you mean 'dedicated'?",
    ),
    (
        "bottleneck without memory",
        {"variants": {"baseline": {}, "b": {"bottleneck": True}}},
        "variants.b.bottleneck: needs mem_tokens >= 1",
    ),
    (
        "same model twice",
        {"variants": {"baseline": {}, "m0": {"mem_tokens": 0}}},
        "build the same model",
    ),
    (
        "unknown baseline",
        {"baseline": "basline"},
        "baseline: unknown variant 'basline': did you mean 'baseline'?",
    ),
    ("empty grid", {"grid": {}}, "grid: empty"),
    ("empty grid list", {"grid": {"mem_tokens": []}}, "grid.mem_tokens: empty list"),
    ("unknown grid option", {"grid": {"memory": [1, 2]}}, "grid: unknown model option 'memory'"),
    (
        "grid value type",
        {"grid": {"mem_tokens": [1, "x"]}},
        "grid.mem_tokens: expected int, got 'x'",
    ),
    (
        "grid name clash",
        {"grid": {"mem_tokens": [4]}, "variants": {"baseline": {}, "mem4": {"d_ff": 16}}},
        "rename the variant",
    ),
    ("zero seeds", {"seeds": 0}, "seeds: must be >= 1"),
    ("repeated seeds", {"seeds": [1, 1]}, "seeds: repeated seed"),
    ("seeds type", {"seeds": "three"}, "seeds: expected a count or a list of integers"),
    ("train key", {"train": {"step": 10}}, "train: unknown key 'step': did you mean 'steps'?"),
    ("train value", {"train": {"steps": 0}}, "train.steps: must be >= 1"),
    ("gpu fraction", {"resources": {"gpu": 1.5}}, "resources.gpu: must be a fraction"),
    (
        "resources key",
        {"resources": {"gpus": 1}},
        "resources: unknown key 'gpus': did you mean 'gpu'?",
    ),
    ("cuda without gpu", {"train": {"device": "cuda"}}, "resources.gpu: train.device is 'cuda'"),
    (
        "factory missing",
        {"variants": {"baseline": {}, "mine": {"factory": "no_such_module:build"}}},
        "variants.mine: factory 'no_such_module:build': no module named",
    ),
    ("name", {"name": "a/b"}, "name: 'a/b' is not usable as a directory name"),
]


@pytest.mark.parametrize(
    "change,expected", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_suite_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, change, expected):
    path = write(tmp_path, {**TINY, **change})
    results = tmp_path / "results"
    assert main(["run", str(path), "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"membench run: error: {path}: ")
    assert expected in err
    assert not results.exists()


@pytest.mark.parametrize(
    "text,expected",
    [
        ("tasks: [copy\n", "is not valid YAML"),
        ("- copy\n", "expected a mapping"),
        (None, "no such file"),
    ],
)
def test_unreadable_suite_files(tmp_path, capsys, text, expected):
    path = tmp_path / "suite.yaml"
    if text is not None:
        path.write_text(text)
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    path = write(tmp_path, TINY)
    assert main(["run", str(path), "--metric", "exact_mach"]) == 2
    assert "did you mean 'exact_match'?" in capsys.readouterr().err
    assert main(["run", str(path), "--max-concurrent", "0"]) == 2
    assert "--max-concurrent: must be >= 1" in capsys.readouterr().err


@pytest.mark.slow
def test_malformed_suite_from_the_shell_has_no_traceback(tmp_path):
    path = write(tmp_path, {**TINY, "seeds": -1})
    proc = subprocess.run(
        [sys.executable, "-m", "membench.cli", "run", str(path), "--results", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


def test_dry_run_prints_every_trial_and_writes_nothing(tmp_path, capsys):
    path = write(tmp_path, TINY)
    results = tmp_path / "results"
    trials = load_suite(path).trials()
    write_record(results / "trials", fake_record(trials[0], "ok"))
    write_record(results / "trials", fake_record(trials[1], "failed"))
    before = sorted(p.name for p in results.rglob("*"))
    assert main(["run", str(path), "--dry-run", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert all(t.id in out for t in trials) and "copy[length=4,vocab=3]" in out  # not markup
    assert "2 of 4 trials will run; recorded: 1 done, 1 failed (skipped: --rerun-failed" in out
    assert main(["run", str(path), "--dry-run", "--rerun-failed", "--results", str(results)]) == 0
    assert "3 of 4 trials will run" in capsys.readouterr().out
    assert main(["run", str(path), "--dry-run", "--force", "--results", str(results)]) == 0
    assert "4 of 4 trials will run" in capsys.readouterr().out
    assert sorted(p.name for p in results.rglob("*")) == before


def fake_record(trial, status="ok", score=0.5):
    metrics = {"token_accuracy": score, "exact_match": score, "final_loss": 1.0, "params": 100}
    return {
        "id": trial.id,
        **trial.spec.to_dict(),
        "status": status,
        "error": None if status == "ok" else "RuntimeError: boom",
        "metrics": metrics if status == "ok" else {},
        "curve": [{"step": 10, "loss": 1.0, "token_accuracy": score, "exact_match": score}],
        "suite": "tiny",
        "task_label": trial.task,
        "variant": trial.variant,
        "node_id": "n" * 8,
        "host": "h",
    }


def test_all_recorded_trains_nothing_and_follows_renamed_variants(tmp_path, capsys):
    path = write(tmp_path, TINY)
    results = tmp_path / "results"
    for i, trial in enumerate(load_suite(path).trials()):
        write_record(results / "trials", fake_record(trial, score=0.2 + 0.1 * i))
    assert run_suite(load_suite(path), results) == 0  # no Ray: nothing is started
    assert "nothing to train" in capsys.readouterr().out
    assert not (results / "tune").exists() and not (results / "ray.log").exists()
    assert (results / "report" / "report.md").exists()
    renamed = write(tmp_path, {**TINY, "variants": {"baseline": {}, "m4": {"mem_tokens": 4}}})
    assert run_suite(load_suite(renamed), results) == 0
    assert set(load_results(results)["variant"]) == {"baseline", "m4"}


def test_exit_code_is_1_while_a_failed_record_remains(tmp_path):
    path = write(tmp_path, TINY)
    results = tmp_path / "results"
    for i, trial in enumerate(load_suite(path).trials()):
        write_record(results / "trials", fake_record(trial, "failed" if i == 0 else "ok", 0.1 * i))
    assert run_suite(load_suite(path), results) == 1


def test_records_are_written_atomically_and_stale_temps_cleaned(tmp_path):
    trial = load_suite(write(tmp_path, TINY)).trials()[0]
    directory = tmp_path / "trials"
    write_record(directory, fake_record(trial))
    assert [p.name for p in directory.iterdir()] == [f"{trial.id}.json"]
    dead, live = directory / ".x.999999999.abc.tmp", directory / f".y.{os.getpid()}.abc.tmp"
    dead.write_text("{")
    live.write_text("{")
    (directory / "junk.json").write_text("{not json")
    assert list(read_records(directory)) == [trial.id]  # an unreadable record counts as missing
    remove_stale_temps(directory)
    assert not dead.exists() and live.exists()
    with pytest.raises(Exception, match="junk.json: not a valid trial record"):
        load_results(directory)


def test_load_results_flattens_config_and_metrics(tmp_path):
    trials = load_suite(write(tmp_path, TINY)).trials()
    results = tmp_path / "results"
    write_record(results / "trials", fake_record(trials[1]))
    write_record(results / "trials", fake_record(trials[0], "failed"))
    df = load_results(results)
    assert len(df) == 2 and len(load_results(results / "trials")) == 2
    ok = df[df["status"] == "ok"].iloc[0]
    assert ok["task"] == "copy[length=4,vocab=3]" and ok["variant"] == "mem4" and ok["seed"] == 0
    assert ok["mem_tokens"] == 4 and ok["model.mem_tokens"] == 4 and ok["model.d_model"] == 16
    assert ok["train.steps"] == 30 and ok["task_params.length"] == 4
    assert ok["token_accuracy"] == 0.5 and ok["curve"][0]["step"] == 10
    assert ok["node_id"] == "n" * 8 and ok["suite"] == "tiny" and ok["generator"] == "copy"
    failed = df[df["status"] == "failed"].iloc[0]
    assert (
        failed["error"] == "RuntimeError: boom" and failed["exact_match"] != failed["exact_match"]
    )
    (tmp_path / "empty").mkdir()
    empty = load_results(tmp_path / "empty")
    assert empty.empty and {"task", "variant", "seed", "exact_match"} <= set(empty.columns)


def test_load_results_sorts_numbers_in_names_as_numbers(tmp_path):
    suite = {**TINY, "variants": {f"mem{m}": {"mem_tokens": m} for m in (20, 5, 10)}}
    suite["tasks"] = [{"copy": {"length": [12, 4], "vocab": 3}}]
    results = tmp_path / "results"
    for trial in load_suite(write(tmp_path, suite)).trials():
        write_record(results / "trials", fake_record(trial))
    df = load_results(results)
    assert list(dict.fromkeys(df["variant"])) == ["mem5", "mem10", "mem20"]
    assert list(dict.fromkeys(df["task"])) == ["copy[length=4,vocab=3]", "copy[length=12,vocab=3]"]


@pytest.mark.slow
def test_membench_load_results_is_lazy():
    code = "import sys, membench; assert 'pandas' not in sys.modules; print(membench.load_results.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "membench.store.results"


def test_no_results_directory_is_an_error(tmp_path):
    with pytest.raises(Exception, match="no such results directory"):
        load_results(tmp_path / "missing")


def test_a_suites_own_tasks_folder_resolves_from_any_directory(tmp_path, monkeypatch):
    home = tmp_path / "project"
    (home / "tasks").mkdir(parents=True)
    (home / "tasks" / "copy_tiny.yaml").write_text(
        "task: copy\ndescription: four symbols\nparams: {length: 4, vocab: 3}\n"
    )
    (home / "suite.yaml").write_text("tasks: [copy_tiny]\nseeds: 1\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (trial,) = load_suite(home / "suite.yaml").trials()
    assert trial.task == "copy_tiny" and trial.spec.task_params["length"] == 4


@pytest.mark.slow
def test_the_live_display_in_a_real_terminal_fits_80_columns_and_updates(tmp_path):
    """`membench run` in a pseudo-terminal of 80 columns: the live display redraws (the done
    count rises), every line fits, and Ray's and Tune's own output stays in ray.log."""
    import fcntl
    import pty
    import re
    import select
    import struct
    import termios

    path = write(tmp_path, {**TINY, "seeds": 3})
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "membench.cli", "run", path.name, "--results", "r"],
        stdin=slave, stdout=slave, stderr=slave, env=env | {"TERM": "xterm-256color"},
        cwd=tmp_path,  # short paths: a path longer than the terminal cannot fit it
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    assert proc.wait(timeout=60) == 0
    text = b"".join(chunks).decode("utf-8", "replace")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07", "", text)
    lines = [line for part in plain.split("\n") for line in part.split("\r")]
    assert lines and max(len(line) for line in lines) <= 80
    done = {int(n) for n in re.findall(r"done (\d+)  failed", plain)}
    assert 0 in done and max(done) >= 1 and len(done) >= 2  # redrawn as trials finished
    assert "Configuration for experiment" not in plain  # Tune's box went to ray.log
    assert "Verdicts" in plain  # and the report followed
