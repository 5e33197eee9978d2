"""A lead's return: which cycle they most likely mean, and what it owes, grouped as the
dashboard shows it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .models import Cycle, QuestionnaireSummary
from .numbers import whole_number

#: Which cycle a lead most likely means, best first.
PHASE_ORDER = ("data-entry", "summary-reports", "sandbox", "closed", "published", "scheduled")

#: The heading of questionnaires that belong to no service group.
WHOLE_ORGANISATION = "Organisation"


def current_cycle(cycles: Sequence[Cycle]) -> str | None:
    """The cycle in data entry if any, else the latest one."""
    if not cycles:
        return None
    ranked = sorted(
        cycles,
        key=lambda c: (
            PHASE_ORDER.index(c.phase) if c.phase in PHASE_ORDER else 9,
            -(whole_number(c.cycle[:4]) or 0),
        ),
    )
    return ranked[0].cycle


def live(owed: Sequence[QuestionnaireSummary]) -> list[QuestionnaireSummary]:
    """The questionnaires a return still owes or holds (not cancelled)."""
    return [q for q in owed if q.status != "cancelled"]


def by_group(
    owed: Sequence[QuestionnaireSummary], group_names: Mapping[str, str]
) -> dict[str, list[QuestionnaireSummary]]:
    """The live questionnaires under their service group's name (the organisation's own
    under "Organisation"), groups in id order and each group's by title."""
    grouped: dict[str, list[QuestionnaireSummary]] = {}
    for q in sorted(owed, key=lambda q: (q.group_id or "", q.title)):
        if q.status == "cancelled":
            continue
        label = group_names.get(q.group_id, q.group_id) if q.group_id else WHOLE_ORGANISATION
        grouped.setdefault(label, []).append(q)
    return grouped


def tally(owed: Sequence[QuestionnaireSummary]) -> dict[str, int]:
    """How many of the questionnaires someone sees are issued, submitted and still to do: from
    the list they are shown, so a group owner's counts are of their group's alone."""
    shown = live(owed)
    submitted = sum(1 for q in shown if q.status == "submitted")
    return {"issued": len(shown), "submitted": submitted, "to_do": len(shown) - submitted}
