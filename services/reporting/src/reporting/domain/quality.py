"""Data-quality rates, nationally and per region, cycle by cycle, with the change from the
previous cycle: what the data-quality report's year-on-year table shows.

Each rate is a share in per cent to one decimal (None when there is nothing to divide by: no
questionnaire issued, nothing carried forward, ...). The change is the difference of the two
rates as shown (so it always equals what a reader subtracts), in percentage points, None when
the previous cycle, or the group in it, or either rate, is unknown. The previous cycle is the
one the cycle's `CycleScheduled` names, or the year before by its name when it names none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .measures import year_before

NATIONAL = "national"


@dataclass(frozen=True)
class Rate:
    """One rate: its key, its label, and what it divides (sums of per-organisation counts,
    or "organisations" for the number of organisations, or a count of those with a signal)."""

    key: str
    label: str
    part: str
    whole: str


RATES: tuple[Rate, ...] = (
    Rate("completeness", "% submitted", "submitted", "issued"),
    Rate("late_rate", "% of submissions late", "late_submissions", "submitted"),
    Rate("unchecked_rate", "% carried forward never checked", "unchecked", "carried_forward"),
    Rate(
        "warnings_rate",
        "% of submissions with rule warnings",
        "submitted_with_warnings",
        "submitted",
    ),
    Rate("signed_off_rate", "% of organisations signed off", "signed_off", "organisations"),
    Rate(
        "signed_off_late_rate",
        "% of sign-offs late",
        "signed_off_late",
        "signed_off",
    ),
    Rate(
        "reopened_rate",
        "% of organisations reopened after sign-off",
        "reopened_organisations",
        "organisations",
    ),
    Rate(
        "unreturned_rate",
        "% of organisations with a delegation never returned",
        "unreturned_organisations",
        "organisations",
    ),
)


def percent(part: int, whole: int) -> float | None:
    """`part` of `whole` in per cent to one decimal; None when `whole` is 0."""
    return round(100.0 * part / whole, 1) if whole else None


def points(current: float | None, previous: float | None) -> float | None:
    """The change from `previous` to `current` as shown, in points to one decimal."""
    if current is None or previous is None:
        return None
    return round(current - previous, 1)


def counts(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """What the rates divide, added up over organisations' rows (the data-quality report's)."""
    keys = {r.part for r in RATES} | {r.whole for r in RATES}
    keys -= {"organisations", "signed_off", "signed_off_late"}
    keys -= {"reopened_organisations", "unreturned_organisations"}
    out = {k: sum(int(row[k]) for row in rows) for k in sorted(keys)}
    out["organisations"] = len(rows)
    out["signed_off"] = sum(1 for row in rows if row["signed_off"])
    out["signed_off_late"] = sum(1 for row in rows if row["signed_off_late"])
    out["reopened_organisations"] = sum(1 for row in rows if row["reopened_after_sign_off"])
    out["unreturned_organisations"] = sum(
        1
        for row in rows
        if row["delegations_outstanding_at_close"] or row["delegations_revoked_unreturned"]
    )
    return out


def rates(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Every rate of a group of organisations, and their mean score."""
    total = counts(rows)
    out: dict[str, Any] = {r.key: percent(total[r.part], total[r.whole]) for r in RATES}
    scores = [row["score"] for row in rows]
    out["mean_score"] = round(sum(scores) / len(scores), 1) if scores else None
    out["organisations"] = len(rows)
    return out


@dataclass(frozen=True)
class CycleRows:
    """One cycle's organisation rows, and the cycle before it as its schedule names it."""

    cycle: str
    previous_cycle: str | None
    rows: Sequence[Mapping[str, Any]]


def year_on_year(cycles: Sequence[CycleRows], region: str | None = None) -> list[dict[str, Any]]:
    """A row per cycle and group (national, then each region; only that `region` when one is
    asked for): the rates, the mean score, and each one's change from the previous cycle."""
    measured: dict[tuple[str, str], dict[str, Any]] = {}
    out = []
    for c in sorted(cycles, key=lambda c: c.cycle):
        groups: dict[str, list[Mapping[str, Any]]] = {NATIONAL: list(c.rows)}
        for organisation in c.rows:
            if organisation.get("region"):
                groups.setdefault(str(organisation["region"]), []).append(organisation)
        previous = c.previous_cycle or year_before(c.cycle)
        for group in [NATIONAL, *sorted(g for g in groups if g != NATIONAL)]:
            now = measured[(c.cycle, group)] = rates(groups[group])
            before = measured.get((previous, group))
            if region is not None and group not in (NATIONAL, region):
                continue
            line: dict[str, Any] = {
                "group": group,
                "cycle": c.cycle,
                "previous_cycle": previous if before is not None else None,
                **now,
            }
            for key in [r.key for r in RATES] + ["mean_score"]:
                line[f"{key}_change"] = points(now[key], before[key] if before else None)
            out.append(line)
    return out
