"""Consumer handler tables keyed by payload class, so a handler's signature is its contract.

    table = HandlerTable()

    @table.on(QuestionnaireDelegated)
    async def delegated(conn: Connection, envelope: EventEnvelope,
                        event: QuestionnaireDelegated) -> None: ...

    EventConsumer(..., handlers=table.handlers())

The consumer decodes each message of a type in the table through the contract registry (after
upcasting), so the payload a handler gets is an instance of the newest registered model of its
type; a message of any other type is ignored undecoded (`csm_kernel.consumer`). A handler
written for an older model than the one now registered would be handed a payload it does not
know: that is refused as `RejectedMessage` (a dead letter naming both classes), never passed
on for the handler to misread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from csm_contracts.envelope import EventEnvelope
from csm_contracts.registry import EventPayload

from .consumer import Handler, RejectedMessage
from .database import Connection

P = TypeVar("P", bound=EventPayload)

#: A handler of one payload class, run in the transaction that records the message.
PayloadHandler = Callable[[Connection, EventEnvelope, P], Awaitable[None]]


class HandlerTable:
    """Handlers by payload class; several for one class run in the order they were added."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[type[EventPayload], list[PayloadHandler[Any]]]] = {}

    def add(self, payload_class: type[P], handler: PayloadHandler[P]) -> None:
        """Handle `payload_class` events with `handler` (after any added before)."""
        event_type = payload_class.EVENT_TYPE
        known = self._entries.get(event_type)
        if known is not None and known[0] is not payload_class:
            raise ValueError(
                f"{event_type} handled as both {known[0].__name__} v{known[0].VERSION} and "
                f"{payload_class.__name__} v{payload_class.VERSION}"
            )
        self._entries.setdefault(event_type, (payload_class, []))[1].append(handler)

    def on(self, payload_class: type[P]) -> Callable[[PayloadHandler[P]], PayloadHandler[P]]:
        """Decorator form of `add`."""

        def register(handler: PayloadHandler[P]) -> PayloadHandler[P]:
            self.add(payload_class, handler)
            return handler

        return register

    @property
    def payload_classes(self) -> list[type[EventPayload]]:
        """The classes this table handles."""
        return [cls for cls, _ in self._entries.values()]

    @classmethod
    def combine(cls, *tables: HandlerTable) -> HandlerTable:
        """One table from several: where two handle a type, both run, in the tables' order,
        in the same transaction."""
        out = cls()
        for table in tables:
            for payload_class, handlers in table._entries.values():
                for handler in handlers:
                    out.add(payload_class, handler)
        return out

    def handlers(self) -> dict[str, Handler]:
        """The table as `EventConsumer` takes it: one handler per event type."""
        return {
            event_type: _dispatcher(payload_class, handlers)
            for event_type, (payload_class, handlers) in self._entries.items()
        }

    def __contains__(self, payload_class: object) -> bool:
        return any(cls is payload_class for cls, _ in self._entries.values())


def _dispatcher(payload_class: type[EventPayload], handlers: list[PayloadHandler[Any]]) -> Handler:
    async def dispatch(conn: Connection, envelope: EventEnvelope, payload: Any) -> None:
        if not isinstance(payload, payload_class):
            raise RejectedMessage(
                f"{envelope.type} v{envelope.version} reads as {type(payload).__name__}, but "
                f"its handlers take {payload_class.__name__} v{payload_class.VERSION}"
            )
        for handler in handlers:
            await handler(conn, envelope, payload)

    return dispatch
