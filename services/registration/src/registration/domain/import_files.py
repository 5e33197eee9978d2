"""Reading an uploaded CSV file, the same way for every bulk import (organisations, services).

No I/O. `read_csv` checks the file as a whole (UTF-8, no NUL, a header naming known columns,
not too many rows) and hands back each non-blank row as a mapping of column to cell, with the
line it starts on, so each import only says what its cells mean. A problem of a row is a
`RowProblem` (line, field, reason); a file that cannot be read at all raises `BadImport`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from csm_kernel.errors import InvalidInput


@dataclass(frozen=True, order=True)
class RowProblem:
    """One problem of one row: its line in the file (the header is line 1), field, reason."""

    line: int
    field: str
    reason: str

    def as_detail(self) -> dict[str, int | str]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


class BadImport(InvalidInput):
    """The file is refused (422): every problem is in `details` with its line number."""

    def __init__(self, problems: Iterable[RowProblem], summary: str | None = None) -> None:
        found = sorted(problems)
        rows = len({p.line for p in found})
        message = summary or (
            f"{rows} {'row has' if rows == 1 else 'rows have'} problems, so nothing was "
            "imported: correct them and import the whole file again"
        )
        super().__init__(message, details=[p.as_detail() for p in found])
        self.problems = found


@dataclass(frozen=True)
class CsvRow:
    """A non-blank row: the line it starts on, and its cells by column (None when the row has
    more cells than the header has columns; that problem is reported)."""

    line: int
    cells: dict[str, str] | None


@dataclass
class CsvTable:
    rows: list[CsvRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


def column_name(raw: str) -> str:
    """A header cell as a column name: case, surrounding blanks and `-`/space forgiven."""
    return re.sub(r"[\s-]+", "_", raw.strip().lower())


E = TypeVar("E", bound=StrEnum)


def enum_value(enum: type[E], raw: str, what: str) -> tuple[E | None, str | None]:
    """A cell as one of `enum`'s values (case, spaces and underscores forgiven), or why not."""
    value = re.sub(r"[\s_]+", "-", raw.strip().lower())
    try:
        return enum(value), None
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        shown = raw.strip()
        if not shown:
            return None, f"must not be blank: use one of {allowed}"
        return None, f"{shown!r} is not {what}: use one of {allowed}"


def decode(data: bytes) -> str:
    """The file as text; `BadImport` naming the line for bytes that are not UTF-8 or a NUL."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadImport(
            [RowProblem(line, "file", "is not UTF-8 text: save the spreadsheet as 'CSV UTF-8'")],
            "the file is not UTF-8 text, so nothing was imported",
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise BadImport(
            [RowProblem(line, "file", "contains a NUL character: this is not a CSV text file")],
            "the file is not a CSV text file, so nothing was imported",
        )
    return text


def _header(
    cells: list[str], line: int, columns: Sequence[str], required: Sequence[str]
) -> list[str]:
    names = [column_name(c) for c in cells]
    problems = []
    unknown = [c for c, n in zip(cells, names, strict=True) if n and n not in columns]
    if unknown:
        problems.append(
            RowProblem(
                line,
                "header",
                f"unknown column(s) {', '.join(repr(c) for c in unknown)}: the columns are "
                f"{', '.join(columns)}",
            )
        )
    missing = [c for c in required if c not in names]
    if missing:
        problems.append(
            RowProblem(
                line,
                "header",
                f"missing column(s) {', '.join(missing)}: the first line must name the columns "
                f"({', '.join(columns)})",
            )
        )
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        problems.append(RowProblem(line, "header", f"column(s) named twice: {', '.join(repeated)}"))
    if problems:
        raise BadImport(problems, "the file's header row is not right, so nothing was imported")
    return names


def read_csv(
    data: bytes, *, columns: Sequence[str], required: Sequence[str], max_rows: int
) -> CsvTable:
    """The rows of a CSV file whose first non-blank line names some of `columns` (all of
    `required`), in any order. Blank lines and rows of blank cells are skipped; a missing
    optional column reads as blank cells. Quoted cells may hold commas and line breaks.

    Raises `BadImport` at once for a file that cannot be read as a whole (not UTF-8, a NUL,
    no header, wrong columns, more than `max_rows` rows)."""
    text = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out = CsvTable()
    header: list[str] | None = None
    last_line = 0
    while True:
        line = last_line + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.problems.append(RowProblem(line, "file", f"cannot be read as CSV: {exc}"))
            break
        last_line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            header = _header(cells, line, columns, required)
            continue
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            out.problems.append(
                RowProblem(
                    line,
                    "row",
                    f"has {len(cells)} cells but the header names {len(header)} columns "
                    "(is there an unquoted comma in a name?)",
                )
            )
            out.rows.append(CsvRow(line, None))
        else:
            out.rows.append(CsvRow(line, dict(zip(header, cells, strict=False))))
        if len(out.rows) > max_rows:
            raise BadImport(
                [RowProblem(line, "file", f"has more than {max_rows:,} rows: split it")],
                f"the file has more than {max_rows:,} rows, so nothing was imported",
            )
    if header is None:
        raise BadImport(
            [
                RowProblem(
                    1,
                    "header",
                    f"the file is empty: the first line names the columns ({', '.join(columns)})",
                )
            ],
            "the file is empty",
        )
    return out
