"""Naming the people a page mentions by their actor ids (`user:…`, `delegate:…`): one
question to registration per page, answered as far as the reader may know (see
`application.history.people`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ...application.errors import ApiError
from ...application.history import actor_ids, people
from ...application.models import Delegation, Person
from ...application.ports import RegistrationApi
from .session import Session


async def names_of(
    registration: RegistrationApi,
    session: Session,
    entries: Iterable[Mapping[str, object]],
    delegations: Iterable[Delegation] = (),
) -> dict[str, str]:
    """Each actor in `entries` (their `actor` and `…_by` fields) by name or email, or where
    they belong when the reader may not know who they are."""
    listed = list(entries)
    persons: list[Person] = []
    try:
        persons = await registration.people(session.token, actor_ids(listed))
    except ApiError as exc:
        if exc.status not in (403, 404):
            raise
    return people((session.principal.user_id, session.email), persons, delegations, listed)
