"""The README and docs/ show what the code does: every `membench` command in a code block parses
with the real CLI, the error message shown is the one membench prints, every page is reachable
and every relative link resolves (mkdocs build --strict checks the links between pages in CI)."""

import argparse
import re
import shlex
from pathlib import Path

import pytest
import yaml

from membench.cli import COMMANDS, main

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)


def blocks(kinds=("bash", "")):
    for page in PAGES:
        for kind, body in FENCE.findall(page.read_text()):
            if kind in kinds:
                yield page, body


def commands():
    """`membench ...` lines of shell blocks, comments and redirections cut off."""
    found = []
    for page, body in blocks():
        for line in body.splitlines():
            line = line.split("  #")[0].split(" > ")[0].strip()
            if line.startswith("membench ") and ": error:" not in line:
                found.append(pytest.param(line, id=f"{page.name}: {line[:50]}"))
    return found


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="membench", exit_on_error=False)
    sub = top.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return top


@pytest.mark.parametrize("line", commands())
def test_every_command_shown_parses_with_the_real_cli(line):
    args = shlex.split(line, comments=True)[1:]
    args = [a for a in args if not (a.startswith("[") or a.endswith("]"))]  # optional parts
    try:
        parser().parse_args(args)
    except SystemExit as exit:  # argparse reports an unknown option this way
        pytest.fail(f"`{line}` does not parse (exit {exit.code})")


def test_the_commands_found_cover_each_subcommand():
    shown = {shlex.split(p.values[0])[1] for p in commands()}
    assert {"tasks", "train", "run", "report", "attention"} <= shown


def test_the_error_shown_for_a_typo_in_the_example_suite_is_what_membench_prints(
    tmp_path, monkeypatch, capsys
):
    suites = (ROOT / "docs" / "suites.md").read_text()
    example = next(body for kind, body in FENCE.findall(suites) if kind == "yaml")
    typo = example.replace("controller: dedicated}", "controler: dedicated}", 1)
    assert typo != example and yaml.safe_load(typo)["variants"]["ctrl10"]["controler"]
    monkeypatch.chdir(tmp_path)
    Path("my-ablation.yaml").write_text(typo)
    assert main(["run", "my-ablation.yaml", "--dry-run"]) == 2
    printed = capsys.readouterr().err.strip()
    shown = [line for _, body in FENCE.findall(suites) for line in body.splitlines()]
    assert printed in shown


def test_every_docs_page_is_in_the_site_and_linked_from_the_readme():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = {next(iter(entry.values())) for entry in config["nav"]}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert pages == nav
    readme = (ROOT / "README.md").read_text()
    assert {f"docs/{p}" for p in pages - {"index.md"}} <= set(re.findall(r"\]\(([^)#]+)", readme))


def test_relative_links_in_the_readme_resolve():
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#:]+)\)", readme):
        assert (ROOT / target).exists(), target


def test_the_readme_is_short_enough_to_read_in_ten_minutes():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
