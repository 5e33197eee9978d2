"""Who is signed in, by name: the "signed in as" bar shows the person's name and their
organisation's name, which no token carries. Registration is asked once per person and the
answer kept a few minutes, so a page costs no extra call."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .models import Person

#: How long a name is kept (a renamed organisation shows within this).
KEEP_SECONDS = 300.0
#: At most this many people kept; beyond it the oldest half is forgotten.
MOST_KEPT = 10_000


@dataclass
class RecentPeople:
    """People recently looked up, by account id, each for `KEEP_SECONDS`."""

    clock: Callable[[], float] = time.monotonic
    kept: dict[str, tuple[float, Person]] = field(default_factory=dict)

    def get(self, account_id: str) -> Person | None:
        found = self.kept.get(account_id)
        if found is None or self.clock() - found[0] > KEEP_SECONDS:
            return None
        return found[1]

    def put(self, person: Person) -> None:
        if len(self.kept) >= MOST_KEPT:
            for key in list(self.kept)[: MOST_KEPT // 2]:
                del self.kept[key]
        self.kept[person.account_id] = (self.clock(), person)
