"""Report descriptions are for people: they name no parameter and no report by its id, and
each companion report they mention is named by its title, in quotes, and is a real report."""

from __future__ import annotations

import re

from reporting.adapters.reports import REPORTS


def test_descriptions_name_reports_by_title_and_no_parameter() -> None:
    titles = {r.name: r.title for r in REPORTS}
    for report in REPORTS:
        assert "`" not in report.description, report.name
        for other in (n for n in titles if "-" in n):  # ("organisations" is also a word)
            # A report's id in the prose ("cycle-progress-over-time") is a defect.
            assert not re.search(rf"\b{re.escape(other)}\b", report.description), (
                report.name,
                other,
            )
        for name in report.see_also:
            assert name in titles and name != report.name, (report.name, name)
        for quoted in re.findall(r"“([^”]+)”", report.description):
            assert quoted in {titles[n] for n in report.see_also}, (report.name, quoted)


def test_companions_name_each_other() -> None:
    by_name = {r.name: r for r in REPORTS}
    progress = by_name["cycle-progress"]
    assert progress.see_also == ("cycle-progress-over-time",)
    assert "“Cycle progress week by week”" in progress.description
    assert "`region`" in progress.options
    assert "“Services mapped in an area”" in by_name["locality-profile"].description
