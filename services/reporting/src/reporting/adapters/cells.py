"""Report values as spreadsheet cells that cannot attack the person who opens the file.

A spreadsheet evaluates a CSV field that starts with `=`, `+`, `-` or `@` (and, in some, a tab,
a carriage return or NUL before one) as a formula: an organisation named
`=HYPERLINK("http://x","y")` or `=cmd|' /C calc'!A0` would run in the reader's Excel. So:

- CSV (OWASP's advice): a *text* field starting with one of those characters gets a single
  quote in front (`'=HYPERLINK(...)`), and every text field is quoted, so neither a delimiter
  inside it (`,` or a `;` in locales that split on it) nor a line break can start a new cell
  that escapes the check. True numbers (int, float, Decimal) are written bare and stay
  numbers, `-5` included. A *text* that only looks like a number ("-5") is text, and is
  neutralised like any other (`'-5`): the data said it was text, and a spreadsheet cannot be
  trusted to tell "-5" from "-5+A1".
- XLSX: every text cell is written as a string (`t="inlineStr"`), never a formula or an error
  value, so `=HYPERLINK(...)` is shown as typed and the text is kept exactly (no quote needed,
  the cell's type says it is text). Numbers, booleans and dates keep their types. Characters
  XML 1.0 cannot hold (C0 controls other than tab and line breaks) become U+FFFD rather than
  failing the whole workbook.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, TYPE_STRING, Cell
from openpyxl.worksheet.worksheet import Worksheet

#: First characters that make a spreadsheet read a field as a formula (OWASP's CSV injection
#: list, plus NUL from ASVS 5.0's V1.2.10).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\0")

LONDON = ZoneInfo("Europe/London")


def is_number(value: Any) -> bool:
    """Whether `value` is a true number (not a bool, not text that looks like one)."""
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def neutralised(text: str) -> str:
    """`text` with a single quote in front if a spreadsheet would take it for a formula."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def csv_field(value: Any) -> Any:
    """A value as a CSV field for a writer with `csv.QUOTE_NONNUMERIC`: numbers as they are
    (written bare), None as empty text, anything else as neutralised text (written quoted)."""
    if value is None:
        return ""
    if is_number(value) or isinstance(value, bool):
        return value
    return neutralised(str(value))


#: How a spreadsheet shows a date, and a time (on England's clock), as people write them.
XLSX_DATE = "d mmmm yyyy"
XLSX_TIME = "d mmmm yyyy h:mm"


def xlsx_cell(sheet: Worksheet, value: Any) -> Cell:
    """A value as a cell of `sheet`: text always a string cell, never a formula; a time a real
    date-time on England's clock (Excel has no time zones), a date a real date."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, datetime):
        local = value.astimezone(LONDON) if value.tzinfo is not None else value
        cell = Cell(sheet, value=local.replace(tzinfo=None))
        cell.number_format = XLSX_TIME
        return cell
    if isinstance(value, date):
        cell = Cell(sheet, value=value)
        cell.number_format = XLSX_DATE
        return cell
    if value is None or is_number(value) or isinstance(value, bool):
        return Cell(sheet, value=value)
    text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", str(value))
    cell = Cell(sheet, value=text)
    # openpyxl takes a text starting with "=" for a formula and "#N/A" for an error value.
    cell.data_type = TYPE_STRING
    return cell


def xlsx_row(sheet: Worksheet, values: list[Any]) -> None:
    """Append one row of values to `sheet`, each through `xlsx_cell`."""
    sheet.append([xlsx_cell(sheet, v) for v in values])
