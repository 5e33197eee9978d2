"""Event stores: one interface (`EventStore`), PostgreSQL and in-memory implementations."""

from .base import AppendContext, EventStore, NewEvent
from .memory import InMemoryEventStore

__all__ = ["AppendContext", "EventStore", "InMemoryEventStore", "NewEvent"]
