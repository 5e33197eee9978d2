"""The committed JSON Schemas are exactly what the code says, and nothing published broke."""

from __future__ import annotations

import json

from csm_contracts.compat import breaking_changes_between
from csm_contracts.registry import REGISTRY
from csm_contracts.schemas import (
    SCHEMA_DIR,
    committed_schemas,
    current_schemas,
    schema_filename,
)

REGENERATE = "run `python -m csm_contracts.schemas` (from /work/main: .venv/bin/python -m ...)"


def test_the_committed_files_are_the_current_schemas() -> None:
    committed, current = committed_schemas(), current_schemas()

    missing = sorted(set(current) - set(committed))
    stale = sorted(set(committed) - set(current))
    assert not missing, f"schemas not committed yet: {missing}; {REGENERATE} and commit them"
    assert not stale, f"committed schemas no model produces any more: {stale}"
    changed = sorted(name for name in current if committed[name] != current[name])
    assert not changed, f"committed schemas out of date: {changed}; {REGENERATE}"


def test_the_committed_files_are_written_as_the_generator_writes_them() -> None:
    for name, schema in current_schemas().items():
        text = (SCHEMA_DIR / name).read_text()
        assert text == json.dumps(schema, indent=2, sort_keys=True) + "\n", (
            f"{name} is not formatted as generated; {REGENERATE}"
        )


def test_no_breaking_change_from_the_committed_schemas() -> None:
    problems = breaking_changes_between(committed_schemas(), current_schemas())
    assert problems == [], (
        "breaking changes to published event schemas (add a new version and an upcaster "
        "in csm_kernel.upcasting instead):\n  " + "\n  ".join(problems)
    )


def test_every_registered_event_and_the_envelope_have_a_schema_file() -> None:
    names = set(current_schemas())
    assert "envelope.v1.json" in names
    for cls in REGISTRY:
        assert schema_filename(cls.EVENT_TYPE, cls.VERSION) in names
