"""The service directory's carry-forward review: last year's changes, named for people."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import JsonValue

from .models import FieldChange


@dataclass(frozen=True)
class ShownChange:
    """One field that changed since last year, under the name people know it by."""

    label: str
    old: JsonValue
    new: JsonValue


def labelled(changes: Sequence[FieldChange], labels: Mapping[str, str]) -> list[ShownChange]:
    """The changes with each field's label (a field without one is shown by its name)."""
    return [ShownChange(labels.get(c.field, c.field), c.old, c.new) for c in changes]
