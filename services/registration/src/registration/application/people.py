"""Who accounts are, as far as the caller may know: what pages need to name the people in a
history ("Ann Lead" rather than `user:620bb8e2…`).

The national team and auditors may know every account; anyone else the accounts of their own
organisation and themself. Of any other account the caller learns only where it belongs (its
organisation's name, or the national team), never its name or email."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from csm_kernel.auth import SEE_ALL, Principal

#: At most this many ids in one question (a history's people, a page of bulletins).
MOST_IDS = 200


@dataclass(frozen=True)
class Person:
    """One account as the caller may know it: `name` and `email` are None where the caller may
    not know them; `national` for an account of the national team, a regulator or an auditor
    (no organisation)."""

    account_id: str
    name: str | None
    email: str | None
    organisation_id: str | None
    organisation_name: str | None
    national: bool


class PeopleDirectory(Protocol):
    async def people(self, account_ids: Sequence[str]) -> list[Person]:
        """The accounts of these ids that exist, with names and emails, in no set order."""
        ...


def knows(caller: Principal, person: Person) -> bool:
    """May `caller` know who `person` is? Themself, their own organisation's accounts, or
    everyone for the national team and auditors."""
    if caller.roles & SEE_ALL or person.account_id == caller.user_id:
        return True
    return person.organisation_id is not None and person.organisation_id == caller.organisation_id


@dataclass
class People:
    directory: PeopleDirectory

    async def who(self, caller: Principal, account_ids: Sequence[str]) -> list[Person]:
        """Each known account of `account_ids` (unknown ones left out), in the order asked,
        named only where the caller may know it."""
        wanted = list(dict.fromkeys(account_ids))
        found = {p.account_id: p for p in await self.directory.people(wanted)}
        out = []
        for account_id in wanted:
            person = found.get(account_id)
            if person is None:
                continue
            if not knows(caller, person):
                person = Person(
                    account_id=person.account_id,
                    name=None,
                    email=None,
                    organisation_id=person.organisation_id,
                    organisation_name=person.organisation_name,
                    national=person.national,
                )
            out.append(person)
        return out
