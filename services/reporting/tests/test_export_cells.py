"""Spreadsheet cells that cannot attack their reader: CSV fields neutralised, XLSX text always a
string cell, true numbers kept as numbers (unit tests of `reporting.adapters.cells`)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest
from openpyxl import Workbook

from reporting.adapters.cells import csv_field, is_number, neutralised, xlsx_row

HOSTILE = [
    '=HYPERLINK("http://x","y")',
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "-5",  # text that looks like a number is text (OWASP: neutralise it)
]


@pytest.mark.parametrize("text", HOSTILE)
def test_text_that_a_spreadsheet_would_evaluate_gets_a_quote_in_front(text: str) -> None:
    assert neutralised(text) == "'" + text
    assert csv_field(text) == "'" + text


@pytest.mark.parametrize("text", ["Anytown PCT", "5A4", "2009-10", "'quoted", "a=b", "", "#N/A"])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert neutralised(text) == text


def test_numbers_are_numbers_and_text_that_looks_like_one_is_not() -> None:
    assert all(is_number(v) for v in (-5, 0, 2.5, -1.5, Decimal("-12.50")))
    assert not any(is_number(v) for v in ("-5", "12", True, False, None))


def _csv(values: list) -> str:
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_NONNUMERIC).writerow([csv_field(v) for v in values])
    return out.getvalue()


def test_csv_writes_numbers_bare_and_every_text_quoted() -> None:
    line = _csv([-5, Decimal("-12.50"), 2.5, "-5", '=HYPERLINK("http://x","y")', None, "a,b;c"])
    assert line == ('-5,-12.50,2.5,"\'-5","\'=HYPERLINK(""http://x"",""y"")","","a,b;c"\r\n')
    # Read back, the hostile text is inert text and the numbers are what they were.
    [row] = csv.reader(io.StringIO(line))
    assert row == ["-5", "-12.50", "2.5", "'-5", '\'=HYPERLINK("http://x","y")', "", "a,b;c"]


def test_a_line_break_inside_a_field_cannot_start_an_unchecked_cell() -> None:
    line = _csv(["Anytown\n=1+1", "ok"])
    [row] = csv.reader(io.StringIO(line))
    assert row == ["Anytown\n=1+1", "ok"]  # one field, quoted: the formula is not a cell


def _round_trip(values: list) -> list:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    xlsx_row(sheet, values)
    buffer = io.BytesIO()
    book.save(buffer)
    read = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()))
    [row] = read.active.iter_rows()  # type: ignore[union-attr]
    return list(row)


def test_xlsx_text_is_always_a_string_cell_and_numbers_stay_numbers() -> None:
    cells = _round_trip([*HOSTILE, "#N/A", -5, Decimal("-12.50"), 2.5, True, date(2010, 2, 28)])
    texts = cells[: len(HOSTILE) + 1]
    for cell, text in zip(texts, [*HOSTILE, "#N/A"], strict=True):
        assert cell.data_type == "s", (text, cell.data_type)
        # Kept as it was (the cell's type already says it is text), but for XML reading a
        # carriage return as a line feed.
        assert cell.value == text.replace("\r", "\n")
    number, money, fraction, flag, day = cells[len(HOSTILE) + 1 :]
    assert (number.data_type, number.value) == ("n", -5)
    assert (money.data_type, money.value) == ("n", -12.5)
    assert (fraction.data_type, fraction.value) == ("n", 2.5)
    assert (flag.data_type, flag.value) == ("b", True)
    assert day.is_date and day.value == datetime(2010, 2, 28)


def test_xlsx_holds_what_xml_cannot_and_times_as_england_reads_them() -> None:
    bell, empty, winter, summer = _round_trip(
        [
            "Anytown\x07 PCT\x1b",
            None,
            datetime(2010, 1, 11, 9, 30, tzinfo=UTC),
            datetime(2010, 6, 11, 9, 30, tzinfo=UTC),
        ]
    )
    assert (bell.data_type, bell.value) == ("s", "Anytown\ufffd PCT\ufffd")
    assert empty.value is None
    # Real date-times (Excel has no time zones): on England's clock, GMT then BST.
    assert winter.is_date and winter.value == datetime(2010, 1, 11, 9, 30)
    assert summer.is_date and summer.value == datetime(2010, 6, 11, 10, 30)
    assert winter.number_format == "d mmmm yyyy h:mm"
