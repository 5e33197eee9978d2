"""What the reports measure in the submitted answers: question ids and the labels people read.

Reporting never imports the questionnaire service's code (DESIGN §3): these ids are copied
from its definition files in services/questionnaire/src/questionnaire/definitions/, and a
definition that renames a question needs a matching change here
(tests/test_measures_match_definitions.py fails until it has one). The version each list comes
from is named beside it; later versions of a definition are read with the same ids.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Definition ids as the events carry them ("service@1" -> "service"), from each file's `id:`.
SERVICE = "service"
CAMHS_PARTNERSHIP = "camhs-partnership"
CHILDRENS_TRUST = "childrens-trust"
SELF_ASSESSMENT = "commissioning-self-assessment"

# service.yaml, version 1, section `investment` (money, GBP): the parts, then the total.
FUNDING_SOURCES: tuple[tuple[str, str], ...] = (
    ("investment_nhs", "PCT / NHS"),
    ("investment_la_childrens", "Local authority children's services"),
    ("investment_la_other", "Local authority, other departments"),
    ("investment_dcsf_grant", "DCSF grant"),
    ("investment_pooled", "Pooled budget"),
    ("investment_third_sector", "Third sector and charitable funding"),
    ("investment_other", "Other sources"),
)
INVESTMENT_TOTAL = "investment_total"

# service.yaml, version 1, section `workforce` (decimal WTE): the professions, then the total.
PROFESSIONS: tuple[tuple[str, str], ...] = (
    ("wte_medical", "Medical"),
    ("wte_nursing", "Nursing and midwifery"),
    ("wte_psychology", "Psychology and psychological therapies"),
    ("wte_therapies", "Therapies (allied health professionals)"),
    ("wte_social_work", "Social work"),
    ("wte_education", "Education"),
    ("wte_youth_support", "Youth, family support and early years workers"),
    ("wte_admin", "Management and administrative"),
    ("wte_other", "Other"),
)
WTE_TOTAL = "wte_total"

# service.yaml, version 1: the questions that sort services (the responses projection keeps
# each in a column of the same name), and the options of the single-choice ones.
LEVEL_OF_NEED = "level_of_need"
PROVIDER_SECTOR = "provider_sector"
#: Yes/no: a CAMHS service. Only a CAMHS service's `camhs_tier` counts.
CAMHS = "camhs"
CAMHS_TIER = "camhs_tier"
LEVELS_OF_NEED: tuple[tuple[str, str], ...] = (
    ("universal", "Universal"),
    ("targeted", "Targeted"),
    ("specialist", "Specialist"),
)
CAMHS_TIERS: tuple[tuple[str, str], ...] = (
    ("1", "Tier 1: universal"),
    ("2", "Tier 2: targeted"),
    ("3", "Tier 3: specialist"),
    ("4", "Tier 4: highly specialist"),
)
PROVIDER_SECTORS: tuple[tuple[str, str], ...] = (
    ("nhs", "NHS"),
    ("local_authority", "Local authority"),
    ("third_sector", "Third sector (voluntary and community)"),
    ("private", "Private sector"),
    ("joint", "Jointly provided"),
)
#: The sectors whose contribution the locality profile calls out.
INDEPENDENT_SECTORS = ("third_sector", "private")

#: Breakdowns of services: (key, the service measure holding the category, its categories).
BREAKDOWNS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("need", LEVEL_OF_NEED, LEVELS_OF_NEED),
    ("tier", CAMHS_TIER, CAMHS_TIERS),
    ("sector", PROVIDER_SECTOR, PROVIDER_SECTORS),
)


def _totals() -> tuple[tuple[str, str, str | None, tuple[str, str] | None], ...]:
    out: list[tuple[str, str, str | None, tuple[str, str] | None]] = [
        ("total:services", "services", None, None),
        ("total:investment", "investment", INVESTMENT_TOTAL, None),
        ("total:wte", "wte", WTE_TOTAL, None),
    ]
    out += [(f"source:{q}", q, q, None) for q, _ in FUNDING_SOURCES]
    out += [(f"profession:{q}", q, q, None) for q, _ in PROFESSIONS]
    for key, measure, categories in BREAKDOWNS:
        for value, _ in categories:
            for figure, summed in (
                ("services", None),
                ("investment", INVESTMENT_TOTAL),
                ("wte", WTE_TOTAL),
            ):
                out.append(
                    (f"{key}:{value}:{figure}", f"{key}_{value}_{figure}", summed, (measure, value))
                )
    return tuple(out)


#: The figures the area and national reports add up, kept per provider and cycle (for all its
#: current service submissions, and for its CAMHS services alone): (the key reports use, the
#: column, the service measure summed or None to count services, and the category
#: (measure, value) it is limited to or None). Only CAMHS services have a tier.
TOTALS = _totals()

# camhs_partnership.yaml, version 1, section `ni51` (scored_scale 1-4; DESIGN §8).
NI51_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("learning_disabilities", "CAMHS for children and young people with learning disabilities"),
    ("urgent_24_hour_cover", "24-hour cover for urgent needs, assessment within 24 hours"),
    ("age_16_17", "CAMHS for 16 and 17 year olds appropriate to age and maturity"),
    ("early_intervention", "Early intervention support through universal services"),
)

# commissioning_self_assessment.yaml, version 1: the six sections ("topics") graded (DESIGN §7).
TOPICS: tuple[tuple[str, str], ...] = (
    ("s1", "Assessing need and reviewing service provision"),
    ("s2", "Shaping the structure of supply"),
    ("s3", "Managing demand"),
    ("s4", "Clinical decision making"),
    ("s5", "Managing performance"),
    ("s6", "Patient and public feedback"),
)
#: Grades from worst to best (DESIGN §7).
GRADES = ("red", "amber", "yellow", "pale-green", "green", "dark-green")

# childrens_trust.yaml, version 1: (section title, ((question id, label), ...)) in order.
CHILDRENS_TRUST_QUESTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Strategic partnership",
        (
            ("trust_board", "Children's Trust Board (or equivalent) in place"),
            ("board_partners", "Partners on the Board"),
            ("board_chair", "Who chairs the Board"),
            ("cypp", "Current Children and Young People's Plan"),
            ("cypp_published", "Plan (or latest review) published"),
            ("cypp_jointly_agreed", "Plan agreed by all partners on the Board"),
        ),
    ),
    (
        "Integrated management and delivery",
        (
            ("integrated_teams", "Integrated teams under a single manager"),
            ("integrated_team_count", "Number of integrated teams"),
            ("integrated_team_types", "Kinds of integrated team"),
            ("co_located", "Services from different agencies co-located"),
            ("co_location_settings", "Where services are co-located"),
            ("caf_in_use", "Common Assessment Framework in use"),
            ("caf_count", "CAF assessments in the last 12 months"),
            ("lead_professional", "Lead professional arrangements agreed"),
            ("lead_professional_roles", "Practitioners acting as lead professionals"),
            ("information_sharing", "Information-sharing protocol signed by all partners"),
        ),
    ),
    (
        "Joint commissioning",
        (
            ("joint_commissioning_strategy", "Joint commissioning strategy agreed"),
            ("jointly_commissioned_services", "Services jointly commissioned"),
            ("joint_commissioning_posts", "Joint commissioning posts"),
            ("joint_commissioning_director", "Joint director or head of commissioning"),
        ),
    ),
    (
        "Pooled budgets",
        (
            ("pooled_budgets", "Pooled budgets for children's services"),
            ("pooled_total", "Total of pooled budgets (£)"),
            ("pooled_la", "Contribution from the local authority (£)"),
            ("pooled_pct", "Contribution from the PCT(s) (£)"),
            ("pooled_other", "Contribution from other partners (£)"),
            ("pooled_other_partners", "Other partners contributing"),
            ("pooled_services", "Services funded from pooled budgets"),
            ("aligned_budgets", "Aligned budgets"),
        ),
    ),
)

# Organisation kinds (csm_contracts.events.registration.OrganisationKind), grouped as the
# Children's Trust profile shows the partners' input.
PARTNER_KINDS: dict[str, str] = {
    "local-authority": "Local authority",
    "pct": "PCT",
    "pct-commissioning": "PCT",
    "pct-provider": "PCT",
    "nhs-trust-acute": "NHS trust",
    "nhs-trust-mental-health": "NHS trust",
    "nhs-trust-community": "NHS trust",
    "nhs-trust-ambulance": "NHS trust",
}
#: The PCTs that answer the commissioning self-assessment.
COMMISSIONING_PCT_KINDS = ("pct", "pct-commissioning")

_CYCLE = re.compile(r"^(\d{4})-(\d{2})$")


def is_cycle(text: str) -> bool:
    """Whether `text` looks like a cycle, e.g. 2009-10."""
    return _CYCLE.match(text) is not None


def year_before(cycle: str) -> str:
    """The cycle one year earlier by its name: 2009-10 -> 2008-09 (the fallback when the
    journal holds no CycleScheduled naming the previous cycle)."""
    match = _CYCLE.match(cycle)
    if match is None:
        raise ValueError(f"not a cycle: {cycle!r}")
    start = int(match.group(1)) - 1
    return f"{start:04d}-{(start + 1) % 100:02d}"


def change(current: Any, previous: Any) -> Any:
    """The change from `previous` to `current`; None when either is unknown."""
    if current is None or previous is None:
        return None
    return current - previous


def readable(value: Any) -> Any:
    """An answer as people read it: yes/no for booleans, option values without underscores,
    a scored answer's score. Numbers and dates stay as they are."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return [str(readable(v)) for v in value]
    if isinstance(value, dict):
        return value.get("score")
    if isinstance(value, str) and re.fullmatch(r"[a-z0-9_]+", value):
        return value.replace("_", " ").capitalize()
    return value


def score_of(value: Any) -> int | None:
    """A scored-scale answer's score ({"score": n, "evidence": ...} or a bare n), if valid."""
    if isinstance(value, dict):
        value = value.get("score")
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4:
        return value
    return None


def from_json(raw: Any) -> Any:
    """A jsonb value as the database driver hands it over (text, unless a codec decoded it)."""
    return json.loads(raw) if isinstance(raw, str) else raw
