"""A report's workbook as a national data team expects to open it: real dates on England's
clock, money in pounds with separators, a filter on every table, columns that fit, sheet
names within Excel's 31 characters cut at a word."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl

from reporting.adapters.exports import to_xlsx
from reporting.application.reports import Column, ReportResult, Table


def _book() -> openpyxl.Workbook:
    table = Table(
        name="investment",
        title="Investment in children's mental health services by primary care trust",
        columns=[
            Column("name", "Organisation"),
            Column("investment", "Investment (£)"),
            Column("caseload", "Caseload"),
            Column("wte", "Staff (WTE)"),
            Column("updated_at", "Last changed"),
        ],
        rows=[
            {
                "name": "Anytown Primary Care Trust",
                "investment": Decimal("760000"),
                "caseload": 12345,
                "wte": Decimal("2.5"),
                "updated_at": datetime(2010, 6, 11, 15, 46, tzinfo=UTC),
            },
            {
                "name": "Northby",
                "investment": Decimal("1250.50"),
                "caseload": 7,
                "wte": 1,
                "updated_at": "2010-01-11T09:30:00+00:00",
            },
        ],
    )
    result = ReportResult(tables=[table, table], summary={"organisations": 2})
    about = {"report": "Investment", "generated_at": "2026-12-06T16:46:00+00:00"}
    return openpyxl.load_workbook(io.BytesIO(to_xlsx(result, about)))


def test_a_workbook_people_can_open() -> None:
    book = _book()
    assert book.sheetnames == [
        "About",
        "Investment in children's mental",
        "Investment in children's (2)",
    ]
    assert all(len(name) <= 31 for name in book.sheetnames)
    about = book["About"]
    assert about["B2"].value == "6 December 2026 at 4:46pm (2026-12-06T16:46:00+00:00)"
    sheet = book.worksheets[1]
    assert sheet.auto_filter.ref == "A1:E3"
    assert sheet.freeze_panes == "A2"
    money, count, wte, when = sheet["B2"], sheet["C2"], sheet["D2"], sheet["E2"]
    assert money.value == 760000 and money.number_format == '"£"#,##0;-"£"#,##0'
    assert sheet["B3"].number_format == '"£"#,##0.00;-"£"#,##0.00'
    assert count.number_format == "#,##0" and wte.number_format == "#,##0.0#"
    assert when.is_date and when.value == datetime(2010, 6, 11, 16, 46)  # BST
    assert sheet["E3"].is_date and sheet["E3"].value == datetime(2010, 1, 11, 9, 30)  # GMT
    # As wide as the organisation's name, not the header.
    assert sheet.column_dimensions["A"].width >= len("Anytown Primary Care Trust")
    assert sheet.column_dimensions["A"].width <= 60
