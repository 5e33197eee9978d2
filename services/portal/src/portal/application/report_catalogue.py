"""Which reports the reports page offers a person, and where each link goes.

The reporting service lists only the reports the caller may open, by the same rule it checks
when one is opened (`GET /reports`, with `subject`: `any` or `own`), so the portal keeps no
second copy of the permissions. What is decided here is where each link points so that it
opens without an error: a report about the person's own organisation is linked with it; one
about any area or organisation goes to the report's page, which asks which one (a picker);
one that needs a cycle gets the current one, and is not offered before there is one."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from markupsafe import Markup, escape

from .models import ReportListing

#: The page's sections, in order: a heading per kind of subject.
GROUPS = (
    ("national", "National reports"),
    ("region", "Reports about one region"),
    ("area", "Reports about one partnership area"),
    ("organisation", "Reports about one organisation"),
    ("own", "Reports about your organisation"),
)


@dataclass(frozen=True)
class Offer:
    """One report as the reports page lists it."""

    name: str
    title: str
    description: str
    group: str
    href: str
    #: Shown beside the link: what opening it will ask for.
    asks: str | None = None

    @property
    def summary(self) -> str:
        """The description's first sentence (the rest is on the report's page)."""
        text = self.description.replace("`", "")
        first = re.split(r"(?<=[a-z0-9)])\.\s", text, maxsplit=1)[0].rstrip(".")
        return first + "." if first else ""


@dataclass(frozen=True)
class Catalogue:
    """The reports page: its offers by group, and what cannot be offered yet."""

    groups: list[tuple[str, list[Offer]]]
    waiting: list[ReportListing]


def _group(report: ReportListing) -> str:
    if report.scope in ("area", "organisation") and report.subject == "own":
        return "own"
    return report.scope if report.scope in dict(GROUPS) else "national"


def offers(
    listed: Sequence[ReportListing], cycle: str | None, organisation: str | None
) -> Catalogue:
    """The reports `listed` (what reporting said the person may open) as links that open
    without an error, grouped; those that need a cycle while there is none are `waiting`."""
    by_group: dict[str, list[Offer]] = {g: [] for g, _ in GROUPS}
    waiting: list[ReportListing] = []
    for report in listed:
        query: dict[str, str] = {}
        if report.needs_cycle:
            if cycle is None:
                waiting.append(report)
                continue
            query["cycle"] = cycle
        group = _group(report)
        asks = None
        if group == "own":
            if organisation is None:
                continue  # reporting would refuse it: a lead always has an organisation
            query[str(report.scope)] = organisation
        elif group in ("area", "organisation"):
            asks = "Asks which " + ("partnership area" if group == "area" else "organisation")
        elif group == "region":
            asks = "Asks which region"
        href = f"/reports/{report.name}" + (f"?{urlencode(query)}" if query else "")
        by_group[group].append(
            Offer(report.name, report.title, report.description or "", group, href, asks)
        )
    groups = [(title, by_group[g]) for g, title in GROUPS if by_group[g]]
    return Catalogue(groups, waiting)


@dataclass(frozen=True)
class Companion:
    """A report offered beside another: its title and where its link goes."""

    name: str
    title: str
    href: str


def companions(
    about: ReportListing, listed: Sequence[ReportListing], params: dict[str, str]
) -> list[Companion]:
    """The reports `about` names as companions that this person may open (the service lists
    only those), linked for the same cycle and, about the same kind of subject, the same
    subject, so the link opens the matching page rather than asking again."""
    out = []
    for report in listed:
        if report.name not in about.see_also:
            continue
        query: dict[str, str] = {}
        if report.needs_cycle and params.get("cycle"):
            query["cycle"] = params["cycle"]
        if report.scope == about.scope and report.scope in params:
            query[report.scope] = params[report.scope]
        href = f"/reports/{report.name}" + (f"?{urlencode(query)}" if query else "")
        out.append(Companion(report.name, report.title, href))
    return out


def described(description: str | None, linked: Sequence[Companion]) -> Markup:
    """A report's description as the page shows it: a companion it names by its title, in
    quotes (“Cycle progress week by week”), becomes a link to it when the person may open
    it; the rest is plain text."""
    html = str(escape(description or ""))
    for companion in linked:
        quoted = str(escape(f"“{companion.title}”"))
        link = (
            f'“<a class="govuk-link" href="{escape(companion.href)}">{escape(companion.title)}</a>”'
        )
        html = html.replace(quoted, link)
    return Markup(html)  # noqa: S704 (escaped above: only our own links are markup)
