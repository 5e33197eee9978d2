"""Reports as files: CSV and XLSX, each saying what it covers and when its data is from.

Every value goes through `cells` on its way into a file (`csv_field`, `xlsx_row`), labels and
titles included, so no name or answer can reach the reader's spreadsheet as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from ..application.reports import ReportResult
from .cells import csv_field, xlsx_row


def cell(value: Any) -> Any:
    """A value as a spreadsheet cell: lists joined, times as ISO text, the rest as is."""
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return value


def about_rows(about: Mapping[str, object]) -> list[tuple[str, Any]]:
    """The scope and time lines every file starts with."""
    return [(key.replace("_", " ").capitalize(), cell(value)) for key, value in about.items()]


def to_csv(result: ReportResult, about: Mapping[str, object]) -> bytes:
    """One CSV: the scope lines, then each table under its title, separated by a blank line.
    Numbers are written bare, every text quoted and neutralised (see `cells`)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)

    def row(values: Sequence[Any]) -> None:
        writer.writerow([csv_field(cell(v)) for v in values])

    for key, value in about_rows(about):
        row([key, value])
    if result.summary:
        writer.writerow([])
        for key, value in result.summary.items():
            row([key.replace("_", " ").capitalize(), value])
    for table in result.tables:
        writer.writerow([])
        row([table.title])
        row([c.label for c in table.columns])
        for values in table.rows:
            row([values.get(c.key) for c in table.columns])
    # A byte-order mark so Excel opens it as UTF-8 (names with accents, the £ sign).
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(result: ReportResult, about: Mapping[str, object]) -> bytes:
    """One workbook: an "About" sheet with the scope, time and headline figures, then one
    sheet per table. Text cells are strings, never formulas (see `cells`)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "About"
    for key, value in about_rows(about):
        xlsx_row(sheet, [key, value])
    if result.summary:
        sheet.append([])
        for key, value in result.summary.items():
            xlsx_row(sheet, [key.replace("_", " ").capitalize(), cell(value)])
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 40
    used: set[str] = {"About"}
    for table in result.tables:
        ws = book.create_sheet(_sheet_name(table.title, used))
        xlsx_row(ws, [c.label for c in table.columns])
        for c in ws[1]:
            c.font = Font(bold=True)
        for values in table.rows:
            xlsx_row(ws, [cell(values.get(c.key)) for c in table.columns])
        _fit(ws, [c.label for c in table.columns])
        ws.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet_name(title: str, used: set[str]) -> str:
    # Excel: at most 31 characters, none of []:*?/\ and unique in the workbook.
    base = "".join(ch for ch in title if ch not in "[]:*?/\\")[:31] or "Sheet"
    name, n = base, 2
    while name in used:
        suffix = f" ({n})"
        name, n = base[: 31 - len(suffix)] + suffix, n + 1
    used.add(name)
    return name


def _fit(ws: Any, labels: Sequence[str]) -> None:
    for i, label in enumerate(labels, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(len(label) + 2, 12), 50)


class SpreadsheetFiles:
    """CSV and XLSX files (`application.ports.ReportFiles`)."""

    def csv(self, result: ReportResult, about: Mapping[str, object]) -> bytes:
        """One CSV file (`to_csv`)."""
        return to_csv(result, about)

    def xlsx(self, result: ReportResult, about: Mapping[str, object]) -> bytes:
        """One XLSX workbook (`to_xlsx`)."""
        return to_xlsx(result, about)
