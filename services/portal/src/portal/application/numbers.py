"""Whole numbers as people type them into forms, and numbers and money as pages show them
(12,345; £760,000)."""

from __future__ import annotations

import re

_WHOLE = re.compile(r"-?[0-9]{1,18}")


def whole_number(typed: str) -> int | None:
    """`typed` as a whole number (ASCII digits, an optional minus, at most 18 digits), else
    None. Not `str.isdigit`: it says yes to "²", which int() refuses, and int() refuses more
    than 4300 digits, so a form holding either was a 500."""
    return int(typed) if _WHOLE.fullmatch(typed) else None


def _number(value: object) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        n = float(str(value).replace(",", ""))
    except ValueError:
        return None
    return int(n) if n.is_integer() and "." not in str(value) else n


def thousands(value: object) -> str:
    """A number with thousands separators (12,345; 2.5 stays 2.5); anything else as it is."""
    n = _number(value)
    if n is None:
        return "" if value is None else str(value)
    if isinstance(n, float) and not n.is_integer():
        return f"{n:,.2f}".rstrip("0").rstrip(".")
    return f"{int(n):,}"


def money(value: object) -> str:
    """Pounds as GOV.UK writes them: £760,000, and pence only when there are some (£12.50)."""
    n = _number(value)
    if n is None:
        return "" if value is None else str(value)
    sign = "-" if n < 0 else ""
    n = abs(n)
    if isinstance(n, float) and not n.is_integer():
        return f"{sign}£{n:,.2f}"
    return f"{sign}£{int(n):,}"
