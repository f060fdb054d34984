"""The command line's small promises: version, defaults in --help, one message per bad value,
a user's model found in the current directory, a broken model contract named as such."""

import json
import os
import shutil
from pathlib import Path

import pytest

from membench import __version__
from membench.cli import main
from membench.config.spec import ModelConfig, TrainConfig

HERE = Path(__file__).parent


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"membench {__version__}"


def test_train_help_shows_the_configs_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"--steps STEPS training steps (the budget) (default: {TrainConfig().steps})" in text
    assert f"(AdamW, warmup, cosine decay) (default: {TrainConfig().lr})" in text
    assert "--d-model D_MODEL width (default: 64)" in text
    assert "--bidirectional turns off: a sequence position reads" in text


def test_every_model_and_train_option_is_on_the_command_line(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    off = {"causal": "--bidirectional", "attention": "--no-attention"}
    for config in (ModelConfig, TrainConfig):
        for name, field in config.model_fields.items():
            flag = off.get(name, "--" + name.replace("_", "-"))
            assert flag in text, name
            assert " ".join(field.description.split()[:3]) in " ".join(text.split()), name


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--steps", "-5"], "train.steps: must be >= 1, got -5"),
        (["--steps", "0"], "train.steps: must be >= 1, got 0"),
        (["--seed", "-1"], "--seed: must be >= 0, got -1"),
        (["--threads", "0"], "--threads: must be >= 1, got 0"),
        (["--lr", "0"], "train.lr: must be > 0"),
    ],
)
def test_bad_train_values_are_one_line_with_exit_2(capsys, argv, message):
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_train_finds_a_factory_in_the_current_directory(tmp_path, monkeypatch, capsys):
    shutil.copy(HERE / "user_models.py", tmp_path / "my_models_here.py")
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--task", "copy", "--set", "length=4", "--set", "vocab=3"]
    argv += ["--factory", "my_models_here:lookup", "--steps", "5", "--eval-every", "5", "--json"]
    assert main(argv) == 0
    assert '"factory": "my_models_here:lookup"' in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags, key, value",
    [(["--mem-kv", "2"], "mem_kv", 2), (["--pause-tokens", "2"], "pause_tokens", 2),
     (["--sink"], "sink", True), (["--mem-tokens", "2", "--mem-every", "4"], "mem_every", 4)],
    ids=["mem_kv", "pause", "sink", "interspersed"],
)  # fmt: skip
def test_train_takes_each_memory_style_option_and_records_it(capsys, flags, key, value):
    argv = ["train", "--task", "copy", "--set", "length=4", "--set", "vocab=3", "--steps", "5"]
    assert main([*argv, "--eval-every", "5", "--json", *flags]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "ok" and record["model"][key] == value


def test_a_wrong_output_shape_is_one_line_naming_the_contract(tmp_path, monkeypatch, capsys):
    shutil.copy(HERE / "user_models.py", tmp_path / "my_flat_models.py")
    monkeypatch.chdir(tmp_path)
    argv = ["train", "--task", "copy", "--set", "length=4", "--set", "vocab=3", "--json"]
    argv += ["--factory", "my_flat_models:flat", "--steps", "5", "--eval-every", "5"]
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and captured.out == ""
    assert "my_flat_models:flat on copy" in err and "forward returned logits of shape (" in err
    assert "the contract is (batch, target length, vocab) = (2, 4, 3)" in err


def test_a_factory_that_raises_or_a_misspelled_option_is_one_line(tmp_path, monkeypatch, capsys):
    shutil.copy(HERE / "user_models.py", tmp_path / "my_typo_models.py")
    monkeypatch.chdir(tmp_path)
    base = ["train", "--task", "copy", "--set", "length=4", "--set", "vocab=3", "--steps", "5"]
    assert main([*base, "--factory", "my_typo_models:broken"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert (
        "my_typo_models:broken on copy" in err and "raised RuntimeError: broken on purpose" in err
    )
    # compare passes options to the factory: one it never reads is named, with the ones it reads
    smoke = HERE.parent / "results" / "smoke"
    argv = ["compare", "my_typo_models.py:lookup", "hiddn=4", "--against", str(smoke), "--dry-run"]
    monkeypatch.chdir(HERE.parent)
    argv[1] = str(tmp_path / "my_typo_models.py") + ":lookup"
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "option 'hiddn' is never read by the factory: did you mean 'hidden'?" in err


def test_a_results_path_that_is_a_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "a-file"
    path.write_text("")
    suite = str(HERE.parent / "suites" / "smoke.yaml")
    assert main(["run", suite, "--results", str(path)]) == 2
    assert capsys.readouterr().err.strip().endswith("is a file, not a folder: name a folder")


def test_tasks_names_stay_whole_on_an_80_column_terminal(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "…" not in out
    for name in ("assoc_recall_hard", "long_range_sum_16", "copy_long"):
        assert f"│ {name} " in out and f"{name}: " in out


def test_a_dry_run_fits_80_columns_with_long_variant_summaries(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(HERE.parent)  # short paths: a path is printed whole, whatever its length
    assert main(["run", "examples/xtransformers.yaml", "--dry-run", "--results", "runs/dry"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 80
    text = " ".join(" ".join(lines).split())
    assert "xt_mem10: factory xtransformers_memory:build (d_model=64" in text
    assert "d_ff=256, mem_tokens=10)" in text  # the summary continues, nothing cut


def test_a_model_without_layout_is_named_where_attention_is_skipped(tmp_path, monkeypatch):
    from membench.config.identity import make_spec
    from membench.report.model import build_report
    from membench.run.record import NO_LAYOUT
    from membench.run.train import run_trial
    from membench.store.records import write_record
    from membench.store.results import load_results

    monkeypatch.syspath_prepend(str(HERE))
    for seed in (0, 1):
        spec = make_spec("copy", {"length": 4, "vocab": 3}, {}, {"steps": 5, "eval_every": 5})
        spec.seed, spec.factory = seed, "user_models:lookup"
        record = run_trial(spec)
        assert record["attention"] is None and record["notes"] == [NO_LAYOUT]
        write_record(tmp_path, {**record, "variant": "mine"})
    report = build_report(load_results(tmp_path))
    assert any("attention analysis skipped for mine" in note for note in report.notes)


def test_records_and_reports_have_the_mode_of_any_other_file(tmp_path):
    import stat

    from membench.report.model import build_report
    from membench.report.render import write_report
    from membench.store.records import UMASK, write_record
    from membench.store.results import load_suite_results

    plain = tmp_path / "plain"
    plain.write_text("")  # what open() gives here, under the umask membench read at import
    expected = stat.S_IMODE(plain.stat().st_mode)
    assert expected == 0o666 & ~UMASK and expected != 0o600
    path = write_record(tmp_path / "trials", {"id": "abc", "status": "ok"})
    assert stat.S_IMODE(path.stat().st_mode) == expected
    found = load_suite_results(HERE.parent / "results" / "smoke")
    report = build_report(found.table, "exact_match", found.baseline)
    for written in write_report(report, tmp_path / "report"):
        assert stat.S_IMODE(written.stat().st_mode) == expected, written


@pytest.mark.slow
def test_a_trial_summary_and_its_bar_fit_80_columns_and_name_the_model():
    from rich.console import Console

    from membench.config.identity import make_spec
    from membench.run.display import TrialBar, print_summary
    from membench.run.train import run_trial

    spec = make_spec("copy", {"length": 16}, {"mem_tokens": 10}, {"steps": 20, "eval_every": 10})
    quiet = Console(width=80, file=open(os.devnull, "w"))  # the live bar runs, unseen
    with TrialBar(spec, console=quiet) as bar:
        record = run_trial(spec, progress=bar.update)
        shown = Console(width=80, record=True)
        shown.print(bar.progress.get_renderable())  # the bar's last state, at 80 columns
    print_summary(record, console=shown)
    text = shown.export_text()
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in text
    assert "model: mem_tokens=10" in lines
    bar_line = next(line for line in lines if line.startswith("copy seed 0 "))
    assert "20/20" in bar_line and "exact " in bar_line and "0:00:" in bar_line
    assert not any(line.rstrip().endswith((" s,", "tok/")) for line in lines)


@pytest.mark.slow
def test_train_takes_a_factory_by_its_file_path(capsys, monkeypatch):
    monkeypatch.chdir(HERE.parent)  # the repository root, as the docs show it
    argv = ["train", "--factory", "examples/gru_seq2seq.py:build", "--task", "copy"]
    argv += ["--set", "length=4", "--steps", "5", "--eval-every", "5", "--json"]
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["factory"] == "gru_seq2seq:build" and record["status"] == "ok"
    assert main(["train", "--factory", "examples/nope.py:build"]) == 2
    assert "--factory: no such file 'examples/nope.py'" in capsys.readouterr().err


def test_a_factory_that_raises_via_compare_is_one_line(tmp_path, monkeypatch, capsys):
    shutil.copy(HERE / "user_models.py", tmp_path / "my_broken.py")
    monkeypatch.chdir(HERE.parent)
    smoke = HERE.parent / "results" / "smoke"
    argv = ["compare", f"{tmp_path / 'my_broken.py'}:broken", "--against", str(smoke)]
    assert main([*argv, "--results", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "raised RuntimeError: broken on purpose" in err
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written
