"""`membench compare`: one new variant against a results folder that `membench run` wrote.

The reference suite (the file its suite.json names, checked to still stand for those records)
gains the new variant; the reference's records are copied into a folder of the comparison's own
(the reference is only read), so the sweep trains the new variant's trials alone and the report
sets it against the reference baseline and variants with the same statistics and plots.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

from membench.config.identity import parse_assignment
from membench.errors import MembenchError
from membench.run.contract import check_contract
from membench.store.records import (
    SUITE_FILE,
    TRIALS,
    check_owner,
    differences,
    plain,
    trial_states,
)
from membench.store.results import load_suite_results
from membench.suite.grid import grid_name
from membench.suite.load import check_distinct, check_factories, load_suite, make_variant
from membench.suite.trials import Suite, Trial, Variant


@dataclasses.dataclass
class Comparison:
    suite: Suite  # the reference suite with the new variants added
    variants: list[Variant]
    reference: Path
    results: Path
    reused: list[str]  # ids of the reference's trials, copied into `results`
    todo: list[Trial]  # the new variants' trials without a record yet

    @property
    def variant(self) -> Variant:  # the first (often the only) new variant
        return self.variants[0]

    def next_round(self) -> list[Trial]:
        """A climb's next round for the new variants, from their records so far: the bottom of
        each ladder at first, then the level above each one a seed solved."""
        from membench.run.climbing import climb_outcomes
        from membench.suite.climb import plan

        names = {v.name for v in self.variants}
        mine = [t for t in self.suite.trials() if t.variant in names]
        outcomes = climb_outcomes(mine, self.results / TRIALS)
        return plan(self.suite, mine, outcomes, self.suite.climb.beyond)[1]


def split_variants(words: list[str]) -> list[list[str]]:
    """VARIANT words, several variants separated by a lone '+': `mem_tokens=4 + mem_tokens=8`."""
    groups: list[list[str]] = [[]]
    for word in words:
        if word == "+":
            groups.append([])
        else:
            groups[-1].append(word)
    if any(not g for g in groups):
        raise MembenchError("VARIANT: an empty variant around '+': give options on both sides")
    return groups


def new_variant(words: list[str], name: str | None, base: dict) -> tuple[Variant, list[str]]:
    """VARIANT as typed: `module:function` or `path/to/file.py:function` and its options
    (key=value), or built-in model options (key=value) over the reference's base model. Also
    the folders a factory's module is found in."""
    if not words:
        raise MembenchError("VARIANT: give model options (mem_tokens=4) or a factory (file.py:fn)")
    factory, paths = None, []
    if "=" not in words[0]:
        factory, words = words[0], words[1:]
        if ":" not in factory:
            raise MembenchError(
                f"VARIANT: '{factory}' is neither key=value nor a factory 'module:function' "
                "(or 'path/to/file.py:function')"
            )
        if ".py:" in factory:
            file, _, function = factory.rpartition(":")
            if not os.path.isfile(file):
                raise MembenchError(f"VARIANT: no such file '{file}'")
            paths.append(os.path.dirname(os.path.abspath(file)))
            factory = f"{os.path.basename(file)[:-3]}:{function}"
    options = dict(parse_assignment(word) for word in words)
    if factory is None:
        model = {**base, **options}
        label = name or grid_name(options)
    else:
        model = {"factory": factory, **options}
        label = name or factory.partition(":")[0].rpartition(".")[2]  # the module: gru_seq2seq
    return make_variant(label, model, f"VARIANT {label}"), paths


def prepare(
    words: list[str], reference: Path, name: str | None = None, results: Path | None = None
) -> Comparison:
    """Check the reference and build the comparison; nothing is written yet."""
    listing = reference / SUITE_FILE
    if not listing.is_file():
        raise MembenchError(
            f"{reference}: no {SUITE_FILE}: compare needs a folder that `membench run` wrote"
        )
    data = json.loads(listing.read_text(encoding="utf-8"))
    path = Path(data.get("path", ""))
    if not path.is_file():
        raise MembenchError(
            f"{reference}: the suite it was run from ({path}) is not here: run compare from the "
            "folder `membench run` ran in"
        )
    ref = load_suite(path)
    if ref.tune is not None:
        raise MembenchError(
            f"{reference}: a tuned suite ({ref.name}): compare against an untuned one (tuned "
            "references are not supported yet)"
        )
    listed = [t["id"] for t in data["trials"]]
    changed = differences(data["definition"], plain(ref.definition)) if "definition" in data else []
    if not changed and ref.climb is None and sorted(listed) != sorted(t.id for t in ref.trials()):
        changed = [f"its trials are not the {len(listed)} listed"]
    if changed:
        raise MembenchError(
            f"{reference}: {path} has changed since these records were made "
            f"({'; '.join(changed[:3])}): restore it, or compare against a folder the changed "
            "suite made"
        )
    found = load_suite_results(reference)
    table = found.table
    bad = len(listed) - int((table["status"] == "ok").sum())
    if bad:
        raise MembenchError(
            f"{reference}: {bad} of its {len(listed)} trials have no ok record: finish it with "
            f"`membench run {path}` first"
        )
    stale = int(table["stale"].sum())
    if stale:
        raise MembenchError(
            f"{reference}: {stale} records were made by other model code than this membench "
            f"(stale): `membench run {path} --rerun-stale` first"
        )
    groups = split_variants(words)
    if name and len(groups) > 1:
        raise MembenchError("--name: names one variant; several are each named by their options")
    made = [new_variant(group, name, ref.model) for group in groups]
    variants, paths = [v for v, _ in made], [p for _, ps in made for p in ps]
    names = [v.name for v in variants]
    for variant in variants:
        suite = dataclasses.replace(
            ref, variants=[*ref.variants, dataclasses.replace(variant, name=f"{variant.name}+")]
        )
        try:
            check_distinct(suite)
        except MembenchError:
            raise MembenchError(
                f"VARIANT: {variant.summary()} is a model {reference} has already: nothing new "
                "to compare"
            ) from None
        if variant.name in {v.name for v in ref.variants} or names.count(variant.name) > 1:
            where = (
                f"of {reference}"
                if variant.name in {v.name for v in ref.variants}
                else ("twice in this command")
            )
            raise MembenchError(
                f"{'--name' if name else 'VARIANT'}: '{variant.name}' names a variant {where} "
                "already: choose another" + (" with --name" if len(variants) == 1 else "")
            )
    suite = dataclasses.replace(
        ref,
        name="+".join([ref.name, *names]),
        variants=[*ref.variants, *variants],
        extra_code_paths=[*ref.extra_code_paths, *paths],
    )
    check_factories(suite)
    check_distinct(suite)  # two new variants that are one model
    variant = variants[0]
    results = results or Path("runs") / suite.name  # runs/: the user's own, ignored by git
    if results.resolve() == reference.resolve():
        raise MembenchError(f"--results: {results} is the reference folder; it is only read")
    every = suite.trials()
    try:
        check_owner(results, suite, [t.id for t in every] if suite.climb is None else None)
    except MembenchError:
        raise MembenchError(
            f"{results}: holds a comparison of another '{variant.name}' (other options): give "
            f"this one a name of its own with --name NAME (its records go to runs/{ref.name}+NAME)"
        ) from None
    mine = [t for t in every if t.variant in names]
    cells = {(t.task, t.variant): t for t in mine}
    for trial in cells.values():  # a user's model: its contract, once a task
        check_contract(trial.spec)
    states = trial_states(mine, results / TRIALS)
    todo = [t for t in mine if states[t.id] != "done"]
    return Comparison(suite, variants, reference, results, listed, todo)


def copy_reference(comparison: Comparison) -> int:
    """The reference's records into the comparison's folder (never the other way), each
    written whole before it is renamed into place; returns how many were copied."""
    source, target = comparison.reference / TRIALS, comparison.results / TRIALS
    target.mkdir(parents=True, exist_ok=True)
    copied = 0
    for trial_id in comparison.reused:
        dest = target / f"{trial_id}.json"
        if dest.exists():
            continue
        temp = dest.with_suffix(".json.tmp")
        shutil.copyfile(source / f"{trial_id}.json", temp)
        os.replace(temp, dest)
        copied += 1
    return copied
