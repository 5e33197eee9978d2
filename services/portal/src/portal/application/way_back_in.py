"""What registration says about a way back in (a forgotten password, a lost set-up link), as
the sign-in pages read it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from .models import ReadModel


class LinkStatus(ReadModel):
    """`POST /auth/links/check`: what an emailed link is, before a password is typed."""

    purpose: Literal["set-up", "reset"]
    state: Literal["usable", "used", "superseded", "expired", "closed", "not-valid"]
    expires_at: datetime | None = None
    #: Who to ask when it does not work: the national team or the person's mapping lead.
    ask: Literal["national-team", "mapping-lead"] = "national-team"

    @property
    def usable(self) -> bool:
        return self.state == "usable"


class CurrentLead(ReadModel):
    """`GET /organisations/{code}/lead`: the lead now, and whether their account is set up."""

    account_id: str
    email: str
    name: str
    status: Literal["pending", "active", "disabled"]

    @property
    def set_up(self) -> bool:
        return self.status != "pending"
