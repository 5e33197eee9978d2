"""Journalling: every event of every service goes into the journal, whatever its type; the
projections then read the journal."""

from __future__ import annotations

from collections.abc import Sequence

from csm_contracts import Topics
from csm_contracts.envelope import EventEnvelope
from csm_contracts.registry import EventPayload
from csm_kernel.database import Connection

from .ports import Journal

#: The topics whose events reporting journals.
SOURCES = (Topics.REGISTRATION, Topics.QUESTIONNAIRE, Topics.NOTIFICATION)


class Journalling:
    """Records consumed events in the journal, in the consumer's transaction."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def record(
        self, conn: Connection, events: Sequence[tuple[EventEnvelope, EventPayload]]
    ) -> None:
        """Journal a batch of first-time events (every type alike: the envelope is what the
        journal keeps, the decoded payload only proves it could be read)."""
        await self.journal.record(conn, [envelope for envelope, _ in events])
