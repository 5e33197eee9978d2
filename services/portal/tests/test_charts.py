"""Report charts as Vega-Lite specs: each says what it shows (title, axis titles with units),
labels its categories, leaves totals out of the bars, and says "and M more" when it shows
only the top N. Tables are shaped as reporting's JSON gives them."""

from __future__ import annotations

from typing import Any

from portal.application.chart_specs import CHARTS, REGION_NAMES, specs_for
from portal.application.charts import MONEY, ChartSpec, Measure, build, charts_of, count
from portal.application.models import ReportListing
from portal.application.report_catalogue import companions, described, offers
from portal.application.report_cells import cell, shown

SOURCES = [
    ("PCT / NHS", 320000.0, 100000.0),
    ("Local authority children's services", 40000.0, 50000.0),
    ("Total", 360000.0, 150000.0),
]


def table(name: str, columns: list[tuple[str, str]], rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": name,
        "title": name,
        "columns": [{"key": k, "label": label} for k, label in columns],
        "rows": rows,
    }


def investment() -> dict[str, Any]:
    return table(
        "investment_by_source",
        [("category", "Funding source"), ("value", "Value"), ("previous", "Value, previous")],
        [{"category": c, "value": v, "previous": p} for c, v, p in SOURCES],
    )


def layers(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["encoding"]


def test_a_comparison_chart_labels_categories_and_units_and_leaves_the_total_out() -> None:
    [chart] = charts_of(
        [s for s in specs_for("locality-profile") if s.table == "investment_by_source"],
        [investment()],
    )
    spec = chart.spec
    assert spec["title"] == {"text": "Investment by funding source"}
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    categories = {p["category"] for p in spec["data"]["values"]}
    assert categories == {"PCT / NHS", "Local authority children's services"}  # no Total
    assert {p["measure"] for p in spec["data"]["values"]} == {"This cycle", "Previous cycle"}
    encoding = layers(spec)
    assert encoding["y"]["title"] == "Funding source"
    assert encoding["x"]["title"] == "Investment (£)"
    assert encoding["x"]["axis"]["format"] == "$,.0f"  # £ through the British locale
    assert spec["config"]["locale"]["number"]["currency"] == ["£", ""]
    assert encoding["color"]["scale"]["domain"] == ["This cycle", "Previous cycle"]
    # Values are written on the bars too, formatted the same way.
    assert spec["layer"][1]["encoding"]["text"]["format"] == "$,.0f"
    assert chart.subtitle is None and "and" not in spec["description"].split(". ")[-1][:4]


def test_the_top_n_says_how_many_more_there_are() -> None:
    rows = [{"name": f"Org {i:02d}", "investment": float(i * 1000)} for i in range(40)]
    spec = ChartSpec(
        table="partners",
        title="Partners' investment, by organisation",
        category="name",
        category_title="Organisation",
        measures=(Measure("investment", "Investment"),),
        unit=MONEY,
        measured="Investment",
        top=15,
    )
    chart = build(spec, table("partners", [("name", "Name"), ("investment", "£")], rows))
    assert chart is not None
    assert chart.subtitle == "The 15 largest of 40, and 25 more in the table"
    assert chart.spec["title"]["subtitle"] == chart.subtitle
    largest = [f"Org {i:02d}" for i in range(39, 24, -1)]
    assert {p["category"] for p in chart.spec["data"]["values"]} == set(largest)
    assert chart.spec["encoding"]["y"]["sort"] == largest  # largest first


def test_the_annual_report_labels_bars_by_category_with_one_colour_per_cycle() -> None:
    rows = [
        {"cycle": cycle, "category": category, "value": value}
        for cycle in ("2008-09", "2009-10")
        for category, value in (("PCT / NHS", 1.0), ("Voluntary", 2.0), ("Total", 3.0))
    ]
    source = table(
        "investment_by_source",
        [("cycle", "Cycle"), ("category", "Funding source"), ("value", "Value")],
        rows,
    )
    overview = table(
        "overview",
        [
            ("cycle", "Cycle"),
            ("investment", "Investment (£)"),
            ("organisations_issued", "Owing"),
            ("organisations_submitted", "Submitted"),
            ("organisations_signed_off", "Signed off"),
        ],
        [
            {
                "cycle": "2008-09",
                "investment": 150000.0,
                "organisations_issued": 2,
                "organisations_submitted": 2,
                "organisations_signed_off": 0,
            },
            {
                "cycle": "2009-10",
                "investment": 760000.0,
                "organisations_issued": 6,
                "organisations_submitted": 5,
                "organisations_signed_off": 1,
            },
        ],
    )
    charts = charts_of(specs_for("annual-report"), [overview, source])
    by_title = {c.title: c.spec for c in charts}
    sources = by_title["Investment by funding source, by cycle"]
    # Bars are the funding sources (not every bar "2009-10"); the cycles are the colours.
    assert {p["category"] for p in sources["data"]["values"]} == {"PCT / NHS", "Voluntary"}
    assert sources["encoding"]["color"]["scale"]["domain"] == ["2008-09", "2009-10"]
    taking_part = by_title["Organisations taking part, by cycle"]
    assert taking_part["encoding"]["x"]["title"] == "Number of organisations"
    assert {p["category"] for p in taking_part["data"]["values"]} == {"2008-09", "2009-10"}
    assert by_title["Investment in services, by cycle"]["encoding"]["x"]["title"] == (
        "Investment (£)"
    )


def test_cycle_progress_shows_shares_per_region_by_name_and_over_time() -> None:
    regions = table(
        "regions",
        [
            ("region", "Region"),
            ("percent_organisations_submitted", "%"),
            ("percent_signed_off", "%"),
        ],
        [
            {
                "region": "east-midlands",
                "percent_organisations_submitted": 50.0,
                "percent_signed_off": 25.0,
            },
            {
                "region": "london",
                "percent_organisations_submitted": 100.0,
                "percent_signed_off": 0.0,
            },
        ],
    )
    over_time = table(
        "over_time",
        [
            ("date", "Date"),
            ("region", "Region"),
            ("percent_signed_off", "%"),
            ("percent_submitted", "%"),
        ],
        [
            {"date": d, "region": r, "percent_signed_off": s, "percent_submitted": s}
            for d, s in (("2009-11-02", 0.0), ("2009-11-09", 50.0))
            for r in ("east-midlands", "london")
        ],
    )
    charts = [
        *charts_of(specs_for("cycle-progress"), [regions]),
        *charts_of(specs_for("cycle-progress-over-time"), [over_time]),
    ]
    assert [c.table for c in charts] == ["regions", "over_time", "over_time"]
    bars = charts[0].spec
    assert {p["category"] for p in bars["data"]["values"]} == {"East Midlands", "London"}
    assert {p["value"] for p in bars["data"]["values"]} == {0.5, 1.0, 0.25, 0.0}
    assert bars["encoding"]["x"]["axis"]["format"] == ".0%"
    assert bars["encoding"]["x"]["scale"]["domain"] == [0, 1]
    assert bars["encoding"]["x"]["title"] == "Share of the region's organisations (%)"
    line = charts[1].spec
    assert line["mark"]["type"] == "line" and line["encoding"]["x"]["type"] == "temporal"
    assert line["encoding"]["color"]["scale"]["domain"] == ["East Midlands", "London"]
    assert REGION_NAMES["yorkshire-and-the-humber"] == "Yorkshire and The Humber"


def test_the_grade_distribution_is_stacked_in_the_grid_colours() -> None:
    grades = ("red", "amber", "yellow", "pale-green", "green", "dark-green")
    by_topic = table(
        "grades_by_topic",
        [("topic", "Topic"), *((g, g) for g in grades)],
        [{"topic": "Managing demand", **dict.fromkeys(grades, 1)}],
    )
    [chart] = [c for c in charts_of(specs_for("self-assessment-scorecards"), [by_topic])]
    encoding = chart.spec["encoding"]
    assert encoding["x"]["stack"] == "zero"
    assert encoding["color"]["scale"]["range"][0] == "#d4351c"
    assert encoding["color"]["scale"]["domain"][3] == "Pale green"
    assert encoding["x"]["title"] == "Number of PCTs"


def test_a_table_without_the_declared_columns_draws_nothing() -> None:
    spec = ChartSpec("t", "T", "name", "Name", (Measure("n", "N"),), count("things"), "")
    assert build(spec, table("t", [("name", "Name")], [{"name": "a"}])) is None
    assert build(spec, table("t", [("name", "Name"), ("n", "N")], [])) is None
    assert all(s.table and s.measures for specs in CHARTS.values() for s in specs)


def test_the_reports_page_links_open_what_the_person_may_pick() -> None:
    listed = [
        ReportListing(name="annual-report", title="Annual", scope="national", needs_cycle=False),
        ReportListing(name="cycle-progress", title="Progress", scope="national"),
        ReportListing(name="locality-profile", title="Locality", scope="area", subject="any"),
        ReportListing(
            name="self-assessment-scorecard",
            title="Scorecard",
            scope="organisation",
            needs_cycle=False,
            subject="own",
        ),
    ]
    catalogue = offers(listed, "2009-10", "5A4")
    hrefs = {o.name: o.href for _, group in catalogue.groups for o in group}
    assert hrefs == {
        "annual-report": "/reports/annual-report",
        "cycle-progress": "/reports/cycle-progress?cycle=2009-10",
        "locality-profile": "/reports/locality-profile?cycle=2009-10",
        "self-assessment-scorecard": "/reports/self-assessment-scorecard?organisation=5A4",
    }
    assert [title for title, _ in catalogue.groups] == [
        "National reports",
        "Reports about one partnership area",
        "Reports about your organisation",
    ]
    # Before any cycle, reports about one cycle wait; the rest are offered.
    early = offers(listed, None, "5A4")
    assert [r.name for r in early.waiting] == ["cycle-progress", "locality-profile"]


def test_values_read_as_people_write_them() -> None:
    assert shown(760000.0, "Investment (£)") == "£760,000"
    assert shown(1234) == "1,234" and shown(12.5) == "12.5" and shown(True) == "Yes"
    assert shown("2026-12-06T08:14:00+00:00") == "6 December 2026 at 8:14am"
    assert shown("2026-07-01T12:00:00+00:00") == "1 July 2026 at 1pm"  # BST
    assert shown(None) == "\N{EN DASH}" and shown("2010-04-01") == "1 April 2010"
    assert shown(66.7, "% complete") == "66.7%" and shown(50.0, "% signed off") == "50%"


def test_cells_name_regions_kinds_and_codes_never_by_id() -> None:
    # The year-on-year tables: "national" and each region in one column.
    assert cell("national", "group") == "National" and cell("north-west", "group") == "North West"
    assert cell("yorkshire-and-the-humber", "provider_region") == "Yorkshire and the Humber"
    assert cell("east-midlands") == "East Midlands"  # a region's code is never shown as is
    assert cell("pct-commissioning", "kind") == "Primary care trust (commissioning)"
    assert cell("in-progress", "status") == "In progress"
    assert cell("data-entry", "phase") == "Data entry"
    assert cell("targeted", "level_of_need") == "Targeted"
    # Names and other text are left alone, and values keep their formatting.
    assert cell("national", "name") == "national" and cell("Anytown PCT", "status") == "Anytown PCT"
    assert cell(760000.0, "investment", "Investment (£)") == "£760,000"


def test_a_description_links_the_companions_it_names_that_the_person_may_open() -> None:
    progress = ReportListing(
        name="cycle-progress",
        title="Cycle progress",
        description="Shares (week by week in “Cycle progress week by week”) & more.",
        scope="national",
        see_also=["cycle-progress-over-time"],
    )
    weekly = ReportListing(name="cycle-progress-over-time", title="Cycle progress week by week")
    linked = companions(progress, [progress, weekly], {"cycle": "2009-10"})
    assert [c.href for c in linked] == ["/reports/cycle-progress-over-time?cycle=2009-10"]
    html = str(described(progress.description, linked))
    assert (
        '“<a class="govuk-link" href="/reports/cycle-progress-over-time?cycle=2009-10">'
        "Cycle progress week by week</a>”"
    ) in html
    assert "&amp; more" in html and "cycle-progress-over-time)" not in html
    # Someone who may not open it reads its title, not a link (and never its id).
    alone = str(described(progress.description, companions(progress, [progress], {})))
    assert "<a " not in alone and "“Cycle progress week by week”" in alone
    # An area report's companion opens for the same area.
    profile = ReportListing(
        name="locality-profile", title="Locality", scope="area", see_also=["locality-services"]
    )
    services = ReportListing(name="locality-services", title="Services", scope="area")
    [link] = companions(profile, [services], {"cycle": "2009-10", "area": "00AA"})
    assert link.href == "/reports/locality-services?cycle=2009-10&area=00AA"
