"""England's organisations as the national team registers them for a mapping cycle, made up:
one roster shared by the benchmarks' synthetic history (`bench/reporting_history.py`, behind
`bench/portal_participation.py`) and the browser test's national data set
(`tests/e2e/national_data.py`, which registers it through registration's bulk import).

At 5,000 organisations: 150 local authorities (each its own partnership area, the LA's code),
300 PCTs (285 whole PCTs, 15 commissioning parts) each covering 1-3 LA areas of its region, and
NHS trusts (acute, mental health, community, ambulance; 1-4 areas), PCT provider arms (each
linked to its own commissioning part) and third-sector and private providers (one area each,
mapped by a local authority or PCT sharing it) for the rest; regions spread as the LAs are."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

from csm_contracts.events.registration import Region

#: Local authorities per region, roughly as England's are.
REGION_WEIGHTS = (12, 23, 15, 9, 14, 11, 33, 19, 16)
#: The kinds that lead a mapping and may map a third-sector or private provider.
LEAD_KINDS = ("local-authority", "pct")
#: The other organisations' kinds, in proportion.
OTHER_KINDS = (
    ["pct-provider"] * 1
    + ["nhs-trust-acute"] * 8
    + ["nhs-trust-mental-health"] * 3
    + ["nhs-trust-community"] * 3
    + ["nhs-trust-ambulance"] * 1
    + ["third-sector"] * 55
    + ["private-provider"] * 29
)
CSV_HEADER = "code,name,kind,region,partnership_areas,linked_organisation_id,mapped_by"


@dataclass
class RosterOrganisation:
    code: str
    name: str
    kind: str
    region: str
    areas: list[str]
    #: The other part of a split PCT (a provider arm's commissioning part and back).
    linked: str | None = None
    #: The local authority or PCT mapping a third-sector or private provider.
    mapped_by: str | None = None

    @property
    def owes_its_own_questionnaires(self) -> bool:
        """An LA or a commissioning PCT owes questionnaires without any service mapped."""
        return self.kind in ("local-authority", "pct", "pct-commissioning")


def national_roster(
    rng: random.Random, total: int = 5000, las: int = 150, pcts: int = 300
) -> list[RosterOrganisation]:
    """`total` organisations: `las` local authorities, `pcts` PCTs (every 20th a commissioning
    part), the rest other kinds, in registration order (an organisation another one links to or
    is mapped by comes first). The same `rng` state gives the same roster."""
    regions = list(Region)
    local_authorities: list[RosterOrganisation] = []
    for i in range(las):
        region = rng.choices(regions, REGION_WEIGHTS)[0].value if i >= 9 else regions[i].value
        code = f"L{i + 1:03d}"
        local_authorities.append(
            RosterOrganisation(code, f"Borough Council {code}", "local-authority", region, [code])
        )
    by_region: dict[str, list[RosterOrganisation]] = defaultdict(list)
    for la in local_authorities:
        by_region[la.region].append(la)
    roster = list(local_authorities)

    def covering(region: str, count: int, start: int) -> list[str]:
        pool = by_region[region] or local_authorities
        return sorted({pool[(start + k) % len(pool)].code for k in range(count)})

    for i in range(pcts):
        la = local_authorities[i % las]
        kind = "pct-commissioning" if i % 20 == 19 else "pct"
        code = f"P{i + 1:03d}"
        areas = covering(la.region, rng.randint(1, 3), by_region[la.region].index(la))
        roster.append(
            RosterOrganisation(code, f"Primary Care Trust {code}", kind, la.region, areas)
        )
    # A provider arm is one commissioning part's other half: once each has its arm, a further
    # draw of the kind is a community trust instead.
    unlinked = [o for o in roster if o.kind == "pct-commissioning"]
    leads = [o for o in roster if o.kind in LEAD_KINDS]
    for i in range(max(0, total - las - pcts)):
        kind = rng.choice(OTHER_KINDS)
        region = rng.choice(local_authorities).region
        la_pos = rng.randrange(len(by_region[region]))
        count = rng.randint(1, 4) if kind.startswith("nhs-trust") else 1
        code = f"T{i + 1:04d}"
        org = RosterOrganisation(
            code, f"Provider {code}", kind, region, covering(region, count, la_pos)
        )
        if kind == "pct-provider":
            if unlinked:
                part = unlinked.pop(0)
                org.linked, part.linked = part.code, code
                org.region, org.areas = part.region, list(part.areas)
            else:
                org.kind = "nhs-trust-community"
        elif kind in ("third-sector", "private-provider"):
            # Every area is an LA's own, so some lead always shares it.
            org.mapped_by = next(o.code for o in leads if set(o.areas) & set(org.areas))
        roster.append(org)
    return roster


def roster_csv(roster: list[RosterOrganisation]) -> bytes:
    """The roster as registration's `POST /organisations/import` file (docs/registration.md)."""
    lines = [CSV_HEADER]
    for o in roster:
        lines.append(
            ",".join(
                (
                    o.code,
                    o.name,
                    o.kind,
                    o.region,
                    ";".join(o.areas),
                    o.linked or "",
                    o.mapped_by or "",
                )
            )
        )
    return ("\n".join(lines) + "\n").encode()
