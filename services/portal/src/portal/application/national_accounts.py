"""The national team's own accounts as the accounts page reads them (registration's
`GET /accounts`), and the roles a national admin may give."""

from __future__ import annotations

from .models import ReadModel

#: The roles of a national account: (value, name, what it may do).
ROLES = (
    (
        "national-admin",
        "National admin",
        "Runs the cycle: registers organisations, schedules cycles, extends and reopens returns,"
        " sends bulletins, and adds and disables these accounts.",
    ),
    (
        "regulator",
        "Regulator",
        "Reads signed-off returns and the national reports; changes nothing.",
    ),
    (
        "auditor",
        "Auditor",
        "Reads every return, its history and the reports, to check them; changes nothing.",
    ),
)
ROLE_NAMES = {value: name for value, name, _ in ROLES}


class NationalAccount(ReadModel):
    account_id: str
    email: str
    name: str
    roles: list[str]
    #: pending (the set-up link not used yet), active or disabled.
    status: str
    created_at: str | None = None

    @property
    def role_names(self) -> str:
        return ", ".join(ROLE_NAMES.get(r, r) for r in self.roles)
