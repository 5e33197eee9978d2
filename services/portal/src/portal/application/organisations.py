"""Registering an organisation: what the national team types, as registration wants it."""

from __future__ import annotations


def partnership_areas(typed: str) -> list[str]:
    """Area codes typed separated by commas or semicolons, upper-cased, blanks dropped."""
    listed = typed.replace(";", ",").split(",")
    return [a.strip().upper() for a in listed if a.strip()]
