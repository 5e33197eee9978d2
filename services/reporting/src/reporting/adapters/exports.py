"""Reports as files: CSV (one table per file; a ZIP of them with a README for the whole
report) and XLSX, each saying what it covers and when its data is from.

Every value goes through `cells` on its way into a file (`csv_field`, `xlsx_row`), labels and
titles included, so no name or answer can reach the reader's spreadsheet as a formula."""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from ..application.reports import Column, ReportResult, Table
from .cells import csv_field, xlsx_row

LONDON = ZoneInfo("Europe/London")


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


class _PlainDecimal(Decimal):
    """A Decimal that prints without an exponent (`760000`, never `7.6E+5`), still a number
    to the CSV writer (written bare, not quoted)."""

    def __str__(self) -> str:
        return format(self, "f")


def plain(value: Any) -> Any:
    """A value as one CSV field: numbers in plain notation, times and dates in ISO 8601,
    lists and mappings joined, text neutralised (see `cells`)."""
    if isinstance(value, Decimal) or (isinstance(value, float) and math.isfinite(value)):
        exact = Decimal(repr(value)) if isinstance(value, float) else value
        if exact == exact.to_integral_value() and isinstance(value, float):
            return int(exact)  # 760000.0 is 760000
        return _PlainDecimal(exact)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return csv_field(cell(value))


def _csv_text(rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    # Numbers bare, every text quoted (a delimiter or line break in it cannot start a cell).
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    for values in rows:
        writer.writerow([plain(v) for v in values])
    return out.getvalue()


def table_csv(table: Table) -> bytes:
    """One table as one CSV: its column labels, then its rows; nothing else, so any tool
    loads it as one table. A byte-order mark makes Excel read it as UTF-8 (the £ sign)."""
    rows: list[list[Any]] = [[c.label for c in table.columns]]
    rows += [[values.get(c.key) for c in table.columns] for values in table.rows]
    return ("\ufeff" + _csv_text(rows)).encode("utf-8")


def _file_names(tables: Sequence[Table]) -> list[str]:
    # Table names are the report's own (letters, digits, dashes); unique within the ZIP.
    used: set[str] = set()
    names = []
    for table in tables:
        base = re.sub(r"[^A-Za-z0-9_-]+", "-", table.name).strip("-") or "table"
        name, n = f"{base}.csv", 2
        while name in used:
            name, n = f"{base}-{n}.csv", n + 1
        used.add(name)
        names.append(name)
    return names


def readme(result: ReportResult, about: Mapping[str, object], files: Sequence[str]) -> str:
    """The ZIP's README: what the report covers and when, its headline figures, and what
    each CSV holds."""
    lines = [str(about.get("report", "Report")), ""]
    for key, value in about.items():
        if key != "report":
            lines.append(f"{_label(key)}: {_in_words(value)}")
    if result.summary:
        lines += ["", "Summary (also in summary.csv):"]
        lines += [f"  {_label(k)}: {cell(v)}" for k, v in result.summary.items()]
    lines += ["", "Files (each one table: a header row, then one row per line):"]
    for name, table in zip(files, result.tables, strict=True):
        lines.append(f"  {name}: {table.title} ({len(table.rows)} rows)")
    if result.summary:
        lines.append("  summary.csv: the headline figures above (Figure, Value)")
    lines += [
        "",
        "Numbers are plain (no thousands separators or exponents); dates and times are",
        "ISO 8601 (times in UTC, with their offset). Files are UTF-8 with a byte-order mark.",
    ]
    return "\r\n".join(lines) + "\r\n"


def to_csv(result: ReportResult, about: Mapping[str, object]) -> bytes:
    """The report as a ZIP of CSV files: one per table, `summary.csv` for the headline
    figures, and `README.txt` with what the report covers and when its data is from."""
    files = _file_names(result.tables)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", readme(result, about, files))
        for name, table in zip(files, result.tables, strict=True):
            archive.writestr(name, table_csv(table))
        if result.summary:
            figures = [["Figure", "Value"]] + [[_label(k), v] for k, v in result.summary.items()]
            archive.writestr("summary.csv", ("\ufeff" + _csv_text(figures)).encode("utf-8"))
    return buffer.getvalue()


def _in_words(value: object) -> str:
    """A time as people read it, on England's clock, with the exact ISO time after it:
    "6 December 2026 at 4:46pm (2026-12-06T16:46:00+00:00)"; anything else as it is."""
    at = value
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(at, datetime) or at.tzinfo is None:
        return str(cell(value))
    local = at.astimezone(LONDON)
    minutes = f":{local.minute:02d}" if local.minute else ""
    clock = f"{local.hour % 12 or 12}{minutes}{'am' if local.hour < 12 else 'pm'}"
    clock = {"12am": "midnight", "12pm": "midday"}.get(clock, clock)
    return f"{local.day} {local:%B %Y} at {clock} ({at.isoformat()})"


def _label(key: str) -> str:
    return key.replace("_", " ").capitalize()


#: A time written as text in ISO 8601 with its offset (as JSON carries one), to become a date.
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Money as people write it: pounds with thousands separators (pence only where there are).
XLSX_MONEY = '"£"#,##0;-"£"#,##0'
XLSX_MONEY_PENCE = '"£"#,##0.00;-"£"#,##0.00'
XLSX_COUNT = "#,##0"
XLSX_NUMBER = "#,##0.0#"
#: Widest column, in characters (a longer cell wraps in Excel's own way when opened).
_WIDEST = 60


def _xlsx_value(value: Any) -> Any:
    """A table value for a workbook: times and dates as real ones, the rest as `cell`."""
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str) and _ISO_TIME.match(value):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, str) and _ISO_DATE.match(value):
        return date.fromisoformat(value)
    return cell(value)


def _is_money(column: Column) -> bool:
    return "£" in column.label or "investment" in column.key


def to_xlsx(result: ReportResult, about: Mapping[str, object]) -> bytes:
    """One workbook: an "About" sheet with the scope, time and headline figures, then one
    sheet per table, each with a filter on its header row, columns as wide as what they hold,
    times as real date-times on England's clock and money in pounds. Text cells are strings,
    never formulas (see `cells`)."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "About"
    for key, value in about_rows(about):
        xlsx_row(sheet, [key, _in_words(value)])
    if result.summary:
        sheet.append([])
        for key, value in result.summary.items():
            xlsx_row(sheet, [key.replace("_", " ").capitalize(), cell(value)])
    _fit(sheet)
    used: set[str] = {"About"}
    for table in result.tables:
        ws = book.create_sheet(_sheet_name(table.title, used))
        xlsx_row(ws, [c.label for c in table.columns])
        for c in ws[1]:
            c.font = Font(bold=True)
        for values in table.rows:
            xlsx_row(ws, [_xlsx_value(values.get(c.key)) for c in table.columns])
        for index, column in enumerate(table.columns, start=1):
            _number_format(ws, index, money=_is_money(column))
        if table.columns:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(table.columns))}{ws.max_row}"
        _fit(ws)
        ws.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _number_format(ws: Any, column: int, *, money: bool) -> None:
    """Thousands separators on every number of a column, pounds on money."""
    for (c,) in ws.iter_rows(min_row=2, min_col=column, max_col=column):
        if isinstance(c.value, bool) or not isinstance(c.value, int | float):
            continue
        whole = float(c.value).is_integer()
        if money:
            c.number_format = XLSX_MONEY if whole else XLSX_MONEY_PENCE
        else:
            c.number_format = XLSX_COUNT if whole else XLSX_NUMBER


def _sheet_name(title: str, used: set[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\ and unique in the workbook; a
    long title is cut at a word, not inside one."""
    base = " ".join("".join(ch for ch in title if ch not in "[]:*?/\\").split()) or "Sheet"
    base = _words_within(base, 31)
    name, n = base, 2
    while name in used:
        suffix = f" ({n})"
        name, n = _words_within(base, 31 - len(suffix)) + suffix, n + 1
    used.add(name)
    return name


def _words_within(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rsplit(" ", 1)[0].rstrip(" ,-\u2013(")
    return cut if cut and len(cut) <= limit else text[:limit]


def _fit(ws: Any) -> None:
    """Each column as wide as its widest cell as shown (a date as "28 February 2010 16:46"),
    within reason."""
    widths: dict[int, int] = {}
    for row in ws.iter_rows():
        for c in row:
            if c.value is None:
                continue
            if isinstance(c.value, datetime):
                shown = 22
            elif isinstance(c.value, date):
                shown = 17
            elif isinstance(c.value, int | float) and not isinstance(c.value, bool):
                shown = len(f"{c.value:,}") + 2
            else:
                shown = max(len(line) for line in str(c.value).split("\n"))
            widths[c.column] = max(widths.get(c.column, 0), shown)
    for column, width in widths.items():
        ws.column_dimensions[get_column_letter(column)].width = min(max(width + 2, 10), _WIDEST)


class SpreadsheetFiles:
    """CSV and XLSX files (`application.ports.ReportFiles`)."""

    def csv(self, result: ReportResult, about: Mapping[str, object]) -> bytes:
        """A ZIP of CSV files (`to_csv`)."""
        return to_csv(result, about)

    def csv_table(self, table: Table) -> bytes:
        """One table as one CSV (`table_csv`)."""
        return table_csv(table)

    def xlsx(self, result: ReportResult, about: Mapping[str, object]) -> bytes:
        """One XLSX workbook (`to_xlsx`)."""
        return to_xlsx(result, about)
