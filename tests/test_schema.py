"""The JSON Schemas agree with membench's own validation, on shipped files and on broken ones."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from membench.cli import main
from membench.errors import MembenchError
from membench.store.results import load_results
from membench.suite.load import load_suite
from membench.suite.schema import record_schema, suite_schema

ROOT = Path(__file__).parent.parent
SUITES = sorted((ROOT / "suites").glob("*.yaml"))
BASE = {"tasks": ["copy"], "model": {"d_model": 32}, "seeds": 2}
BROKEN = [
    {"tasks": ["copy"], "model": {"controler": "dedicated"}},  # a typo
    {"tasks": ["copy"], "train": {"lr": 0}},
    {"tasks": ["copy"], "train": {"steps": 0}},
    {"tasks": ["copy"], "train": {"steps": "many"}},
    {"tasks": ["copy"], "model": {"arch": "rnn"}},
    {"tasks": ["copy"], "seeds": 0},
    {"tasks": ["copy"], "resources": {"gpus": 1}},
    {"tasks": ["copy"], "name": "no spaces"},
    {"tasks": ["copy"], "tune": {"space": {"lr": [0.001]}, "seeds": [1], "per": ["task"]}},
    {"tasks": ["copy"], "tune": {"space": {"learning_rate": [0.001]}, "seeds": [1]}},
    {"tasks": ["copy"], "epochs": 3},
    {"tasks": ["copy"], "model": {"dropout": 1.5}},
    {"tasks": ["copy"], "resources": {"gpu": 1.5}},
    {"tasks": ["copy"], "seeds": [1, 1]},
    {"tasks": ["copy"], "seeds": []},
    {"tasks": []},
    {"tasks": ["copy"], "variants": {}},
    {"tasks": ["copy"], "variants": {"a/b": {"mem_tokens": 2}}},
    {"tasks": ["copy"], "grid": {"memory": [1, 2]}},
    {"tasks": ["copy"], "grid": {}},
    {"tasks": ["copy"], "tune": {"space": {"lr": [0.001]}, "seeds": [7, 7]}},
    {
        "tasks": ["copy"],
        "tune": {"space": {"lr": [0.001]}, "seeds": [7], "metric": "steps_to_solve"},
    },
]
GOOD = [
    {"tasks": {"copy": {"length": [4, 8]}}, "seeds": [3, 5]},
    {"tasks": ["copy"], "grid": {"mem_tokens": [0, 2], "bottleneck": [False, True]}},
    {"tasks": ["copy"], "resources": {"cpu": 0.5, "gpu": 0.25}, "train": {"device": "cuda"}},
    {"tasks": ["copy"], "variants": {"mine": {"factory": "user_models:lookup"}}},
    {
        "tasks": ["copy"],
        "tune": {"space": {"lr": {"loguniform": [1e-4, 1e-2]}}, "seeds": [9], "samples": 2},
    },
]
# Rules the JSON Schema cannot state (between keys, or on the registry): membench alone
# rejects these, and the schema's documentation says so.
RUNTIME_ONLY = [
    {"tasks": ["copy"], "model": {"bottleneck": True}},  # the model is whole without variants
    {"tasks": ["copy"], "model": {"d_model": 30, "n_heads": 4}},
    {"tasks": ["cpy"]},
    {"tasks": ["copy"], "seeds": 2, "tune": {"space": {"lr": [0.001]}, "seeds": [1]}},
    {"tasks": ["copy"], "train": {"device": "cuda"}},
]


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.name)
def test_every_shipped_suite_validates_against_the_schema(path):
    jsonschema.validate(yaml.safe_load(path.read_text()), suite_schema())
    load_suite(path)  # and membench agrees


@pytest.mark.parametrize("suite", BROKEN, ids=lambda s: json.dumps(s)[:60])
def test_a_suite_the_schema_rejects_membench_rejects_too(tmp_path, suite):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(suite, suite_schema())
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    with pytest.raises(MembenchError):
        load_suite(path)


@pytest.mark.parametrize("suite", GOOD, ids=lambda s: json.dumps(s)[:60])
def test_a_suite_the_schema_accepts_membench_accepts_too(tmp_path, suite):
    jsonschema.validate(suite, suite_schema())
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    (tmp_path / "user_models.py").write_text((ROOT / "tests" / "user_models.py").read_text())
    load_suite(path)


@pytest.mark.parametrize("suite", RUNTIME_ONLY, ids=lambda s: json.dumps(s)[:60])
def test_rules_between_keys_are_membenchs_alone(tmp_path, suite):
    jsonschema.validate(suite, suite_schema())
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    with pytest.raises(MembenchError):
        load_suite(path)


def test_the_schema_completes_what_editors_need():
    schema = suite_schema()
    model = schema["$defs"]["ModelConfig"]
    assert model["additionalProperties"] is False
    assert model["properties"]["controller"]["enum"] == ["shared", "dedicated", "dedicated_shared"]
    assert model["properties"]["mem_tokens"]["default"] == 0
    train = schema["$defs"]["TrainConfig"]["properties"]
    assert train["lr"]["exclusiveMinimum"] == 0 and train["steps"]["minimum"] == 1


def test_schema_command_prints_json(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "membench suite"
    assert main(["schema", "record"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "membench trial record"


def test_shipped_records_old_and_new_load_side_by_side(tmp_path):
    shipped = sorted((ROOT / "results" / "core-v1" / "trials").glob("*.json"))
    records = [json.loads(p.read_text()) for p in shipped]
    records = [r for r in records if "schema_version" not in r][:3]
    assert len(records) == 3
    for record in records:
        assert "schema_version" not in record  # written before records had one
        jsonschema.validate(record, record_schema())
    new = {**records[0], "id": "0123456789ab", "schema_version": 2, "code": {"model_code": 1}}
    (tmp_path / "trials").mkdir()
    for record in [*records, new]:
        (tmp_path / "trials" / f"{record['id']}.json").write_text(json.dumps(record))
    df = load_results(tmp_path)
    assert len(df) == 4 and set(df["status"]) == {"ok"}


def test_a_malformed_record_is_one_line_naming_the_field(tmp_path):
    record = json.loads(
        sorted((ROOT / "results" / "smoke" / "trials").glob("*.json"))[0].read_text()
    )
    record["status"] = "done"
    (tmp_path / "trials").mkdir()
    (tmp_path / "trials" / f"{record['id']}.json").write_text(json.dumps(record))
    with pytest.raises(MembenchError, match=r"not a valid trial record: status: Input should be"):
        load_results(tmp_path)
