"""What every "register many from a file" page shares (organisations with their leads,
services): a problem of the file as a person reads it (line, column, reason), registration's
refusal turned into those problems, and reading an upload as text.

Pure functions: the pages read the upload, these say what is wrong with it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ApiError


@dataclass(frozen=True)
class Problem:
    #: The line of the uploaded file (the header is line 1); 0 for the file as a whole.
    line: int
    field: str
    reason: str


def problems_of(exc: ApiError, lines: Mapping[int, int] | None = None) -> list[Problem]:
    """Registration's refusal of a file as problems by line, its line numbers mapped back to
    the uploaded file's through `lines` (when the page sent registration another file made
    from it), sorted by line. A refusal with no details is one problem of the whole file."""
    out = []
    for d in exc.details or [{"field": "file", "reason": exc.message}]:
        line = d.get("line")
        number = line if isinstance(line, int) else 0
        if lines is not None:
            number = lines.get(number, 0)
        out.append(
            Problem(number, str(d.get("field") or "file"), str(d.get("reason") or exc.message))
        )
    return sorted(out, key=lambda p: (p.line, p.field))


def as_text(raw: bytes) -> str | None:
    """The upload as text, or None when it is not UTF-8 (a byte-order mark is dropped)."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return None


def megabytes(limit: int) -> str:
    """A byte limit as people say it: "5 MB"."""
    return f"{limit // (1024 * 1024)} MB"
