"""Whole numbers as people type them into forms."""

from __future__ import annotations

import re

_WHOLE = re.compile(r"-?[0-9]{1,18}")


def whole_number(typed: str) -> int | None:
    """`typed` as a whole number (ASCII digits, an optional minus, at most 18 digits), else
    None. Not `str.isdigit`: it says yes to "²", which int() refuses, and int() refuses more
    than 4300 digits, so a form holding either was a 500."""
    return int(typed) if _WHOLE.fullmatch(typed) else None
