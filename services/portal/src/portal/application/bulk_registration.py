"""Registering many organisations with their mapping leads from one CSV file: reading the
file, checking the leads' columns, and the organisations' part as registration's import
reads it (its own checks then name every bad line, mapped back to the lines of the file the
person uploaded).

Pure functions over text: the page reads the upload, these say what is in it."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from .bulk_files import Problem

#: The organisation columns registration's import reads, then the lead's two.
ORGANISATION_COLUMNS = (
    "code",
    "name",
    "kind",
    "region",
    "partnership_areas",
    "linked_organisation_id",
    "mapped_by",
)
LEAD_COLUMNS = ("lead_name", "lead_email")
REQUIRED = ("code", "name", "kind", "region", "lead_name", "lead_email")

#: The downloadable template: the header and two example lines.
TEMPLATE = (
    ",".join(ORGANISATION_COLUMNS + LEAD_COLUMNS)
    + "\r\nLA383,Leeds City Council,local-authority,yorkshire-and-the-humber,,,,Ann Lead,"
    "ann.lead@leeds.gov.uk\r\n"
    "5NC,Leeds PCT Commissioning,pct-commissioning,yorkshire-and-the-humber,LA383,,,"
    "Sam Lead,sam.lead@leedspct.nhs.uk\r\n"
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class Row:
    #: The line of the uploaded file the row starts on (the header is line 1).
    line: int
    values: dict[str, str]


@dataclass
class Upload:
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _column(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def read_upload(text: str) -> Upload:
    """The rows of the file, and what is wrong with its header or its leads' columns."""
    out = Upload()
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    header: list[str] | None = None
    header_line = 1
    while header is None:
        try:
            cells = next(reader)
        except StopIteration:
            out.problems.append(Problem(1, "file", "the file is empty: start from the template"))
            return out
        except csv.Error as exc:
            out.problems.append(Problem(reader.line_num, "file", f"not a CSV file ({exc})"))
            return out
        if any(c.strip() for c in cells):
            header = [_column(c) for c in cells]
            header_line = reader.line_num
    known = set(ORGANISATION_COLUMNS + LEAD_COLUMNS)
    for name in header:
        if name not in known:
            out.problems.append(
                Problem(header_line, name or "(blank)", "not a column of the template")
            )
    for name in REQUIRED:
        if name not in header:
            out.problems.append(Problem(header_line, name, "this column is missing"))
    if len(set(header)) != len(header):
        out.problems.append(Problem(header_line, "file", "a column is named twice"))
    if out.problems:
        return out
    start = reader.line_num + 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            values = {
                name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header)
            }
            out.rows.append(Row(line, values))
            if not values["lead_name"]:
                out.problems.append(Problem(line, "lead_name", "give the mapping lead's name"))
            email = values["lead_email"]
            if not email:
                out.problems.append(
                    Problem(line, "lead_email", "give the mapping lead's email address")
                )
            elif not _EMAIL.match(email):
                out.problems.append(
                    Problem(line, "lead_email", f"{email!r} is not an email address, like a@b.org")
                )
    except csv.Error as exc:
        out.problems.append(
            Problem(reader.line_num, "file", f"the file stops making sense here ({exc})")
        )
    if not out.rows and not out.problems:
        out.problems.append(Problem(header_line, "file", "there are no organisations in the file"))
    return out


def organisations_file(upload: Upload) -> tuple[bytes, dict[int, int]]:
    """The organisations' columns as registration's import reads them, one row a line, and
    for each of its lines the line of the uploaded file the row came from."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ORGANISATION_COLUMNS)
    lines = {1: 1}
    for n, row in enumerate(upload.rows, start=2):
        writer.writerow([row.values.get(c, "") for c in ORGANISATION_COLUMNS])
        lines[n] = row.line
    return out.getvalue().encode("utf-8"), lines
