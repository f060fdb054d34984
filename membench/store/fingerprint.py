"""Which code made a result: a record's `code` fingerprint, so a record made by other model
code is never reused silently as if it were current (MAD's skip-if-results-exist invites that).

Built-in models: `MODEL_CODE_VERSION`, bumped by hand whenever a change alters what a built-in
model computes (tests/test_fingerprint.py pins the outputs of each version and fails when they
change without a bump). A user's factory: a hash of its module's source file.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any

MODEL_CODE_VERSION = 1  # built-in models; records from before fingerprints were made by 1


def fingerprint(factory: str | None) -> dict[str, Any]:
    """What would make a trial of this model now. The factory's module must be importable
    (its folder on sys.path), as for training it."""
    if not factory:
        return {"model_code": MODEL_CODE_VERSION}
    module = factory.partition(":")[0]
    source = module_file(module)
    if source is None:
        return {"factory": module, "source": None}
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    return {"factory": module, "source": digest}


def module_file(module: str) -> Path | None:
    """The source file of `module` without importing it (a package: its __init__.py)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        return None
    return Path(spec.origin)


def recorded(record: dict[str, Any]) -> dict[str, Any] | None:
    """A record's fingerprint; records from before fingerprints: version 1 of the built-in
    models (what made them), unknown (None) for a factory's."""
    if "code" in record:
        return record["code"]
    return None if record.get("factory") else {"model_code": 1}


def is_stale(record: dict[str, Any], current: dict[str, Any]) -> bool:
    """Made by other code than would run now (an unknown factory source counts as other)."""
    return recorded(record) != current
