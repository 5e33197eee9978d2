"""What a projection is: tables, and set-based statements that apply a range of the journal.

A projection never reads another projection's tables, only the journal and its own, so each
can be rebuilt alone. Its statements take `$1` (exclusive) and `$2` (inclusive) journal
positions and must give the same tables whether a range is applied at once or in pieces: the
live projector applies a few events at a time, a rebuild tens of thousands. Table names are
unique across projections, because reports read several projections' schemas at once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Projection:
    """A read model built from the journal."""

    name: str
    description: str
    #: The event types it reads (lag and as-at scratch builds look only at these).
    reads: frozenset[str]
    #: CREATE TABLE/INDEX statements, with unqualified names.
    ddl: str
    #: Applied in order over the journal range ($1, $2].
    statements: Sequence[str]
    #: The tables it owns (created by `ddl`).
    tables: tuple[str, ...] = field(default=())

    @property
    def schema(self) -> str:
        """The schema its live tables are in."""
        return f"rm_{self.name}"

    @property
    def tables_ddl(self) -> list[str]:
        """The DDL without its plain (non-unique) indexes and the ALTER INDEX statements on
        them: what a bulk load needs."""
        return [d for d in _statements(self.ddl) if not _INDEX_DDL.match(d)]

    @property
    def indexes_ddl(self) -> list[str]:
        """The plain indexes (and ALTER INDEX statements on them): built once after a bulk
        load, much faster than row by row."""
        return [d for d in _statements(self.ddl) if _INDEX_DDL.match(d)]

    @property
    def fingerprint(self) -> str:
        """Changes whenever its tables or statements do: the live tables are then rebuilt."""
        text = "\x00".join([self.ddl, *self.statements])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


_INDEX_DDL = re.compile(r"^\s*(CREATE|ALTER)\s+INDEX\b", re.IGNORECASE)


def _statements(ddl: str) -> list[str]:
    # Projection DDL holds no functions or string literals with semicolons: splitting is safe.
    parts = (re.sub(r"--[^\n]*", "", part).strip() for part in ddl.split(";"))
    return [p for p in parts if p]


@dataclass(frozen=True)
class Progress:
    """How far a rebuild has got."""

    projection: str
    position: int
    head: int
    events: int
    elapsed: float

    @property
    def rate(self) -> float:
        """Journal positions applied per second so far."""
        return self.events / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds to go at the rate so far."""
        return (self.head - self.position) / self.rate if self.rate > 0 else None


@dataclass(frozen=True)
class Lag:
    """How far behind the journal a projection's live tables are."""

    projection: str
    position: int
    head: int
    events_behind: int
    seconds_behind: float
    rebuilding: bool
    built_at: datetime | None
    updated_at: datetime | None


class AlreadyRebuilding(Exception):
    """Another process is rebuilding this projection."""
