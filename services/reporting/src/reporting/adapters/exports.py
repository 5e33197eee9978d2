"""Reports as files: CSV and XLSX, each saying what it covers and when its data is from."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from ..application.reports import ReportResult


def cell(value: Any) -> Any:
    """A value as a spreadsheet cell: lists joined, times as ISO text, the rest as is."""
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return value


def about_rows(about: dict[str, Any]) -> list[tuple[str, Any]]:
    """The scope and time lines every file starts with."""
    return [(key.replace("_", " ").capitalize(), cell(value)) for key, value in about.items()]


def to_csv(result: ReportResult, about: dict[str, Any]) -> bytes:
    """One CSV: the scope lines, then each table under its title, separated by a blank line."""
    out = io.StringIO()
    writer = csv.writer(out)
    for key, value in about_rows(about):
        writer.writerow([key, value])
    if result.summary:
        writer.writerow([])
        for key, value in result.summary.items():
            writer.writerow([key.replace("_", " ").capitalize(), cell(value)])
    for table in result.tables:
        writer.writerow([])
        writer.writerow([table.title])
        writer.writerow([c.label for c in table.columns])
        for row in table.rows:
            writer.writerow([_csv_cell(row.get(c.key)) for c in table.columns])
    # A byte-order mark so Excel opens it as UTF-8 (names with accents, the £ sign).
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _csv_cell(value: Any) -> Any:
    value = cell(value)
    return "" if value is None else value


def to_xlsx(result: ReportResult, about: dict[str, Any]) -> bytes:
    """One workbook: an "About" sheet with the scope, time and headline figures, then one
    sheet per table."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "About"
    for key, value in about_rows(about):
        sheet.append([key, _xlsx_cell(value)])
    if result.summary:
        sheet.append([])
        for key, value in result.summary.items():
            sheet.append([key.replace("_", " ").capitalize(), _xlsx_cell(cell(value))])
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 40
    used: set[str] = {"About"}
    for table in result.tables:
        ws = book.create_sheet(_sheet_name(table.title, used))
        ws.append([c.label for c in table.columns])
        for c in ws[1]:
            c.font = Font(bold=True)
        for row in table.rows:
            ws.append([_xlsx_cell(cell(row.get(c.key))) for c in table.columns])
        _fit(ws, [c.label for c in table.columns])
        ws.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, str):
        # XLSX (XML 1.0) cannot hold most C0 control characters: openpyxl refuses the cell and
        # the whole download would fail. Show where one was instead of dropping it silently.
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return value


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
