"""Each generator against its plain-Python reference solver, determinism and vocabulary bounds."""

from pathlib import Path

import pytest
import torch

from membench import tasks
from membench.config.instances import BUILTIN_TASKS, named_tasks, resolve_task
from membench.errors import MembenchError
from membench.tasks.long_range_sum import sum_width

SETTINGS = {
    "copy": [{}, {"length": 1, "vocab": 2}, {"length": 40, "vocab": 30}],
    "sort": [{}, {"length": 1}, {"length": 33, "vocab": 3}],
    "reverse": [{}, {"length": 1, "vocab": 2}, {"length": 37, "vocab": 11}],
    "assoc_recall": [
        {},
        {"pairs": 1, "queries": 1, "key_vocab": 1, "value_vocab": 2},
        {"pairs": 8, "queries": 8, "key_vocab": 8, "value_vocab": 5},
        {"pairs": 10, "queries": 3, "key_vocab": 64, "value_vocab": 16},
    ],
    "long_range_sum": [{}, {"length": 1, "base": 2}, {"length": 16, "base": 10}],
    "parity": [{}, {"length": 1}, {"length": 300}],
}


def cases():
    return [(name, params) for name, options in SETTINGS.items() for params in options]


def test_the_tasks_are_registered():
    assert tasks.names() == [
        "assoc_recall",
        "copy",
        "flip_flop",
        "long_range_sum",
        "mad_compression",
        "mad_fuzzy_recall",
        "mad_memorization",
        "mad_noisy_recall",
        "mad_recall",
        "mqar",
        "parity",
        "reverse",
        "selective_copying",
        "sort",
    ]  # the published ones are tested in test_tasks_published.py


@pytest.mark.parametrize("name,overrides", cases())
def test_generator_matches_reference_solver(name, overrides):
    task = tasks.get(name)
    params = task.resolve(overrides)
    src, tgt = task.generate(300, torch.Generator().manual_seed(1), **params)
    src_len, tgt_len = task.lengths(**params)
    assert src.shape == (300, src_len) and tgt.shape == (300, tgt_len)
    assert src.dtype == torch.long and tgt.dtype == torch.long
    for row_src, row_tgt in zip(src.tolist(), tgt.tolist(), strict=True):
        assert task.solve(row_src, **params) == row_tgt


@pytest.mark.parametrize("name,overrides", cases())
def test_token_ids_stay_inside_the_vocabulary(name, overrides):
    task = tasks.get(name)
    params = task.resolve(overrides)
    src, tgt = task.generate(500, torch.Generator().manual_seed(2), **params)
    vocab = task.vocab_size(**params)
    assert 0 <= int(src.min()) and int(src.max()) < vocab
    assert 0 <= int(tgt.min()) and int(tgt.max()) < vocab


@pytest.mark.parametrize("name", tasks.names())
def test_same_seed_same_batch_different_seed_differs(name):
    task = tasks.get(name)
    params = task.resolve()
    a = task.generate(64, torch.Generator().manual_seed(5), **params)
    b = task.generate(64, torch.Generator().manual_seed(5), **params)
    c = task.generate(64, torch.Generator().manual_seed(6), **params)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_assoc_recall_layout():
    task = tasks.get("assoc_recall")
    params = task.resolve({"pairs": 5, "queries": 3, "key_vocab": 9, "value_vocab": 4})
    src, tgt = task.generate(200, torch.Generator().manual_seed(0), **params)
    keys, values = src[:, 0:10:2], src[:, 1:10:2]
    assert (keys < 9).all() and ((values >= 9) & (values < 13)).all()
    assert (src[:, 10] == 13).all()  # SEP is the last id
    assert all(len(set(row)) == 5 for row in keys.tolist())  # distinct keys
    queries = src[:, 11:]
    assert all(
        set(q) <= set(k) and len(set(q)) == 3
        for q, k in zip(queries.tolist(), keys.tolist(), strict=True)
    )


def test_long_range_sum_width_holds_the_largest_sum():
    assert sum_width(8, 4) == 3  # 24 = 120 in base 4
    assert sum_width(16, 10) == 3  # 144
    assert sum_width(1, 2) == 1
    assert sum_width(3, 2) == 2  # 3 = 11 in base 2
    task = tasks.get("long_range_sum")
    src = torch.full((1, 16), 9)
    assert task.solve(src[0].tolist(), length=16, base=10) == [1, 4, 4]


def test_chance_is_uniform_guessing_over_target_symbols():
    assert tasks.get("copy").chance(length=16, vocab=8) == 1 / 8
    assert tasks.get("assoc_recall").chance(pairs=4, queries=2, key_vocab=16, value_vocab=5) == 0.2
    assert tasks.get("long_range_sum").chance(length=8, base=4) == 0.25


@pytest.mark.parametrize(
    "name,overrides,message",
    [
        ("copy", {"length": 0}, "parameter 'length' = 0 is out of range: must be >= 1"),
        ("copy", {"vocab": 1}, "parameter 'vocab' = 1 is out of range: must be >= 2"),
        (
            "copy",
            {"lenght": 3},
            "unknown parameter 'lenght' for task 'copy': did you mean 'length'?",
        ),
        ("copy", {"length": "ten"}, "parameter 'length' must be an integer"),
        ("assoc_recall", {"pairs": 20}, "'pairs' = 20 is out of range: keys are distinct"),
        ("assoc_recall", {"queries": 0}, "'queries' = 0 is out of range: must be >= 1"),
        (
            "assoc_recall",
            {"queries": 5},
            "'queries' = 5 is out of range: queries are distinct keys",
        ),
        ("long_range_sum", {"base": 1}, "'base' = 1 is out of range: must be >= 2"),
    ],
)
def test_invalid_parameters_name_the_parameter_and_range(name, overrides, message):
    with pytest.raises(MembenchError, match=message.replace("?", r"\?").replace("(", r"\(")):
        tasks.get(name).resolve(overrides)


def test_named_instances_resolve_with_overrides():
    assert resolve_task("copy") == ("copy", {"length": 16, "vocab": 8})
    assert resolve_task("copy", {"length": 32}) == ("copy", {"length": 32, "vocab": 8})
    assert resolve_task("assoc_recall_hard")[1]["pairs"] == 8
    with pytest.raises(MembenchError, match="unknown task 'cpy': did you mean 'copy'"):
        resolve_task("cpy")


SHIPPED = ["assoc_recall_hard", "copy_long", "long_range_sum_16"]


def test_named_instances_ship_inside_the_package_and_resolve_from_any_directory(
    tmp_path, monkeypatch
):
    """A non-editable install has no source tree: the instances are package data."""
    shipped = {p.stem for p in BUILTIN_TASKS.glob("*.yaml")}
    assert BUILTIN_TASKS.is_relative_to(Path(tasks.__file__).parent) and set(SHIPPED) <= shipped
    monkeypatch.chdir(tmp_path)
    assert resolve_task("copy_long") == ("copy", {"length": 32, "vocab": 16})
    assert set(SHIPPED) <= set(named_tasks())


def write_instance(folder: Path, name: str, length: int) -> None:
    (folder / "tasks").mkdir(parents=True, exist_ok=True)
    (folder / "tasks" / f"{name}.yaml").write_text(f"task: copy\nparams: {{length: {length}}}\n")


def test_a_users_tasks_folder_takes_part_beside_the_suite_then_in_the_cwd(tmp_path, monkeypatch):
    suite_dir, cwd = tmp_path / "project", tmp_path / "cwd"
    write_instance(cwd, "copy_mine", 5)
    write_instance(cwd, "copy_long", 6)  # a user's instance of a shipped name wins
    write_instance(suite_dir, "copy_long", 7)  # and beside the suite wins over the cwd
    monkeypatch.chdir(cwd)
    assert resolve_task("copy_mine")[1]["length"] == 5
    assert resolve_task("copy_long")[1]["length"] == 6
    assert resolve_task("copy_long", near=suite_dir)[1]["length"] == 7
    assert resolve_task("assoc_recall_hard", near=suite_dir)[1]["pairs"] == 8  # shipped still


@pytest.mark.parametrize("name", tasks.names())
def test_generators_run_on_the_generators_device(name):
    task = tasks.get(name)
    params = task.resolve()
    src, tgt = task.generate(4, torch.Generator(device="cpu").manual_seed(0), **params)
    assert src.device.type == "cpu" and tgt.device.type == "cpu"


@pytest.mark.parametrize("overrides", SETTINGS["assoc_recall"])
def test_assoc_recall_answers_are_read_at_their_queries(overrides):
    """The source token at each answer position is a query key, after SEP, and the target there
    is the value paired with that key in the context."""
    task = tasks.get("assoc_recall")
    params = task.resolve(overrides)
    pairs, queries = params["pairs"], params["queries"]
    positions = task.answer_positions(**params)
    src_len, tgt_len = task.lengths(**params)
    assert positions == list(range(2 * pairs + 1, 2 * pairs + 1 + queries))
    assert len(positions) == tgt_len and all(2 * pairs < p < src_len for p in positions)
    src, tgt = task.generate(200, torch.Generator().manual_seed(3), **params)
    for row_src, row_tgt in zip(src.tolist(), tgt.tolist(), strict=True):
        table = {row_src[2 * i]: row_src[2 * i + 1] for i in range(pairs)}
        assert [table[row_src[p]] for p in positions] == row_tgt


@pytest.mark.parametrize("name", ["copy", "sort", "long_range_sum"])
def test_other_tasks_keep_separate_answer_slots(name):
    task = tasks.get(name)
    assert task.answer_positions(**task.resolve()) is None


def test_parity_is_balanced_and_its_range_is_one_line():
    task = tasks.get("parity")
    src, tgt = task.generate(4000, torch.Generator().manual_seed(0), length=100)
    assert abs(tgt.float().mean().item() - 0.5) < 0.03 and task.chance(length=100) == 0.5
    with pytest.raises(MembenchError) as err:
        task.resolve({"length": 0})
    assert "\n" not in str(err.value) and "length" in str(err.value)
