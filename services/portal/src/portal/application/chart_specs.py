"""Which report tables are drawn as charts, and how: each chart's category column, measure
columns and unit, declared here beside the reports' table names (reporting's JSON gives
`tables[].name` and `columns[].key`; a unit test holds these against reporting's real
tables). A report or table not named here has no chart, only its table."""

from __future__ import annotations

from csm_contracts.events.registration import Region

from .charts import (
    GRADE_COLOURS,
    GRADES,
    MONEY,
    PERCENT,
    WTE,
    ChartSpec,
    Measure,
    Unit,
    count,
)

#: Region codes as people write them.
REGION_NAMES = {
    r.value: r.value.replace("-", " ").title().replace(" And ", " and ") for r in Region
}


SERVICES = count("services")
SCORE = Unit("score, 1 (lowest) to 4 (highest)", ",d")


def _compare(
    table: str, title: str, what: str, measured: str, unit: Unit, key: str = ""
) -> ChartSpec:
    """A locality-style comparison table (`category`, `value[_key]`, `previous[_key]`): this
    cycle's bars beside the previous cycle's."""
    suffix = f"_{key}" if key else ""
    return ChartSpec(
        table=table,
        title=title,
        category="category",
        category_title=what,
        measures=(
            Measure(f"value{suffix}", "This cycle"),
            Measure(f"previous{suffix}", "Previous cycle"),
        ),
        unit=unit,
        measured=measured,
    )


def _by_cycle(
    table: str, title: str, what: str, measured: str, unit: Unit, key: str = "value"
) -> ChartSpec:
    """An annual-report table that stacks cycles (`cycle`, `category`, `value[_key]`): each
    category's bars, one per cycle."""
    return ChartSpec(
        table=table,
        title=title,
        category="category",
        category_title=what,
        measures=(Measure(key, measured),),
        series="cycle",
        unit=unit,
        measured=measured,
    )


LOCALITY = (
    _compare(
        "level_of_need",
        "Services by level of need",
        "Level of need",
        "Services",
        SERVICES,
        "services",
    ),
    _compare(
        "investment_by_source",
        "Investment by funding source",
        "Funding source",
        "Investment",
        MONEY,
    ),
    _compare("workforce", "Workforce by profession", "Profession", "Workforce", WTE),
    _compare("camhs_by_tier", "CAMHS services by tier", "Tier", "Services", SERVICES, "services"),
    _compare(
        "provider_sector",
        "Investment by provider sector",
        "Provider sector",
        "Investment",
        MONEY,
        "investment",
    ),
)

CHARTS: dict[str, tuple[ChartSpec, ...]] = {
    "annual-report": (
        ChartSpec(
            table="overview",
            title="Organisations taking part, by cycle",
            category="cycle",
            category_title="Cycle",
            measures=(
                Measure("organisations_issued", "Owing questionnaires"),
                Measure("organisations_submitted", "Submitted"),
                Measure("organisations_signed_off", "Signed off"),
            ),
            unit=count("organisations"),
            measured="",
        ),
        ChartSpec(
            table="overview",
            title="Investment in services, by cycle",
            category="cycle",
            category_title="Cycle",
            measures=(Measure("investment", "Investment"),),
            unit=MONEY,
            measured="Investment",
        ),
        _by_cycle(
            "investment_by_source",
            "Investment by funding source, by cycle",
            "Funding source",
            "Investment",
            MONEY,
        ),
        _by_cycle("workforce", "Workforce by profession, by cycle", "Profession", "Workforce", WTE),
        _by_cycle(
            "level_of_need",
            "Services by level of need, by cycle",
            "Level of need",
            "Services",
            SERVICES,
            "value_services",
        ),
        _by_cycle(
            "camhs_by_tier",
            "CAMHS services by tier, by cycle",
            "Tier",
            "Services",
            SERVICES,
            "value_services",
        ),
    ),
    "locality-profile": LOCALITY,
    "camhs-partnership": (
        _compare(
            "camhs_by_tier", "CAMHS services by tier", "Tier", "Services", SERVICES, "services"
        ),
        _compare(
            "camhs_investment",
            "CAMHS investment by funding source",
            "Funding source",
            "Investment",
            MONEY,
        ),
        _compare(
            "camhs_workforce", "CAMHS workforce by profession", "Profession", "Workforce", WTE
        ),
        ChartSpec(
            table="ni51",
            title="NI 51: score per question",
            category="question",
            category_title="Question",
            measures=(Measure("score", "Score"),),
            unit=SCORE,
            measured="",
            domain=(0, 4),
        ),
    ),
    "childrens-trust-profile": (
        ChartSpec(
            table="partners",
            title="Partners' investment, by organisation",
            category="name",
            category_title="Organisation",
            measures=(Measure("investment", "Investment"),),
            unit=MONEY,
            measured="Investment",
        ),
    ),
    "cycle-progress": (
        ChartSpec(
            table="regions",
            title="Organisations that submitted and signed off, by region",
            category="region",
            category_title="Region",
            measures=(
                Measure("percent_organisations_submitted", "Submitted everything"),
                Measure("percent_signed_off", "Signed off"),
            ),
            unit=PERCENT,
            measured="Share of the region's organisations",
            labels=REGION_NAMES,
        ),
    ),
    "cycle-progress-over-time": (
        ChartSpec(
            table="over_time",
            title="Organisations signed off through the cycle, by region",
            category="date",
            category_title="Date",
            measures=(Measure("percent_signed_off", "Signed off"),),
            series="region",
            unit=PERCENT,
            measured="Share signed off",
            kind="line",
            labels=REGION_NAMES,
        ),
        ChartSpec(
            table="over_time",
            title="Organisations that submitted everything, through the cycle, by region",
            category="date",
            category_title="Date",
            measures=(Measure("percent_submitted", "Submitted everything"),),
            series="region",
            unit=PERCENT,
            measured="Share submitted",
            kind="line",
            labels=REGION_NAMES,
        ),
    ),
    "self-assessment-scorecards": (
        ChartSpec(
            table="grades_by_topic",
            title="PCTs' grades per topic, nationally",
            category="topic",
            category_title="Topic",
            measures=tuple(Measure(g, g.replace("-", " ").capitalize()) for g in GRADES),
            unit=count("PCTs"),
            measured="",
            kind="stacked",
            colours=GRADE_COLOURS,
        ),
        ChartSpec(
            table="overall_grades",
            title="PCTs by overall grade",
            category="grade",
            category_title="Overall grade",
            measures=(Measure("pcts", "PCTs"),),
            unit=count("PCTs"),
            measured="",
            labels={g: g.replace("-", " ").capitalize() for g in (*GRADES, "not graded")},
        ),
    ),
}


def specs_for(report: str) -> tuple[ChartSpec, ...]:
    """The charts declared for `report` (none: the report is tables only)."""
    return CHARTS.get(report, ())
