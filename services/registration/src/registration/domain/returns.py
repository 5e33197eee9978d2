"""Signed-off returns: registration's copy of the questionnaire service's sign-offs, and the
refusal of a directory change that would alter a return already signed off.

The questionnaire service owns an organisation's return for a cycle and decides its sign-off
(`questionnaire.CycleSignedOff`) and its reopening by the national team
(`questionnaire.ReturnReopened`). Registration keeps a copy, fed by its consumer, so that the
directory refuses to change the services of a signed-off return until it is reopened: the
regulator's signed-off return would otherwise no longer match the directory. A service belongs
to its provider's return (the provider owes the service's questionnaire), so the return that
counts is the provider's for the record's cycle.

Both events are on the return's stream (`return-<cycle>-<organisation>`), so its stream version
orders them: a copy applies an event only if it is later than the last one applied, which makes
applying idempotent and indifferent to a late redelivery of an older one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from csm_kernel.errors import Conflict

LONDON = ZoneInfo("Europe/London")

#: What a signed-off return refuses, in the portal's words (its directory pages).
ADDING = "no services can be added to it"
CHANGING = "its services cannot be confirmed, revised or withdrawn"


@dataclass(frozen=True)
class SignedOffReturn:
    """An organisation's return for a cycle, signed off (and not reopened since)."""

    cycle: str
    organisation_id: str
    signed_off_at: datetime


def gov_datetime(at: datetime) -> str:
    """A moment as GOV.UK writes it, on England's clock: "6 December 2026 at 8:14am"."""
    local = at.astimezone(LONDON) if at.tzinfo is not None else at
    if local.hour == 0 and local.minute == 0:
        clock = "midnight"
    elif local.hour == 12 and local.minute == 0:
        clock = "midday"
    else:
        hour, suffix = local.hour % 12 or 12, "am" if local.hour < 12 else "pm"
        clock = f"{hour}{suffix}" if local.minute == 0 else f"{hour}:{local.minute:02d}{suffix}"
    return f"{local.day} {local:%B %Y} at {clock}"


def refusal(signed: SignedOffReturn, what: str) -> str:
    """Why `what` cannot be done, and who can reopen the return: the portal's sentence, naming
    the organisation (an API caller may be the national team, acting for any)."""
    return (
        f"The {signed.cycle} return of {signed.organisation_id} was signed off on "
        f"{gov_datetime(signed.signed_off_at)}, so {what}. If something needs changing, ask "
        "the national mapping team to reopen the return."
    )


class ReturnSignedOff(Conflict):
    """A directory change refused (409): a return it would change is signed off. The national
    team is refused too: it reopens the return first."""

    def __init__(self, signed: Sequence[SignedOffReturn], what: str) -> None:
        ordered = sorted(signed, key=lambda s: (s.cycle, s.organisation_id))
        message = refusal(ordered[0], what)
        if len(ordered) > 1:
            message += f" ({len(ordered) - 1} more signed-off returns: see details)"
        super().__init__(
            message,
            details=[
                {
                    "reason": refusal(s, what),
                    "cycle": s.cycle,
                    "organisation_id": s.organisation_id,
                    "signed_off_at": s.signed_off_at.isoformat(),
                }
                for s in ordered
            ],
        )
        self.signed = ordered
