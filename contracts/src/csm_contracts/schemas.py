"""The JSON Schemas of every published event, generated from the models and committed.

`python -m csm_contracts.schemas` rewrites `contracts/schemas/`; a test compares what is
committed with what the code says, and `csm_contracts.compat` refuses breaking changes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from . import events  # noqa: F401  (registers every payload)
from .envelope import EventEnvelope
from .registry import REGISTRY

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def schema_filename(event_type: str, version: int) -> str:
    """The committed file name of one event version's schema."""
    return f"{event_type}.v{version}.json"


def current_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, for the envelope and every registered payload."""
    out: dict[str, dict[str, Any]] = {"envelope.v1.json": EventEnvelope.model_json_schema()}
    for cls in REGISTRY:
        out[schema_filename(cls.EVENT_TYPE, cls.VERSION)] = cls.model_json_schema()
    return out


def committed_schemas(directory: Path = SCHEMA_DIR) -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, as committed."""
    return {p.name: json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))}


def write(directory: Path = SCHEMA_DIR) -> None:
    """Write every current schema (additions and changes) to the committed directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, schema in current_schemas().items():
        (directory / name).write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    from .compat import breaking_changes_between

    problems = breaking_changes_between(committed_schemas(), current_schemas())
    if problems and "--force" not in sys.argv:
        sys.exit("refusing to write breaking schema changes:\n  " + "\n  ".join(problems))
    write()
