"""Text that PostgreSQL can hold: no U+0000 (NUL) and no lone surrogate.

PostgreSQL `text` cannot hold U+0000 and `jsonb` refuses the `\\u0000` escape; a lone surrogate
(U+D800-U+DFFF) is not UTF-8 at all. Python strings and JSON can hold both. The edge
(`csm_kernel.edge`) refuses them in what a request sends; what is already in an event store,
or arrives from another service, is data to keep, not a reason to fail: `scrub` replaces each
such character with U+FFFD (the replacement character), which every store can hold and a
reader sees as "a character was lost here".
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson

#: What PostgreSQL text cannot hold: NUL, and the surrogates (alone they are not UTF-8).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"

T = TypeVar("T")


def unstorable_reason(text: str) -> str | None:
    """Why `text` cannot be stored (None: it can)."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "must not contain the NUL character (U+0000)"
    return "must be valid UTF-8 text"


def scrub_text(text: str) -> str:
    """`text` with each NUL and lone surrogate replaced by U+FFFD."""
    return UNSTORABLE.sub(REPLACEMENT, text)


def scrub(value: T) -> T:
    """`value` (str, or dicts, lists and tuples of them, at any depth, keys included) with
    every NUL and lone surrogate replaced by U+FFFD; other values as they are."""
    if isinstance(value, str):
        return scrub_text(value) if UNSTORABLE.search(value) else value  # type: ignore[return-value]
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [scrub(v) for v in value]  # type: ignore[return-value]
    if isinstance(value, tuple):
        return tuple(scrub(v) for v in value)  # type: ignore[return-value]
    return value


def needs_scrub(value: Any) -> bool:
    """Whether `scrub` would change `value` (any str in it holds NUL or a lone surrogate)."""
    if isinstance(value, str):
        return UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(needs_scrub(k) or needs_scrub(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(needs_scrub(v) for v in value)
    return False


def _maybe_unstorable(data: Any) -> bool:
    # orjson writes NUL as \u0000 and refuses lone surrogates and integers over 64 bits: a
    # microsecond for a typical event. The walk decides whenever that is not conclusive.
    try:
        return b"\\u0000" in orjson.dumps(data)
    except TypeError:
        return True


def storable_json(value: Any) -> str:
    """JSON text of `value` for a PostgreSQL `jsonb` (or `text`) column: NUL and lone
    surrogates replaced by U+FFFD, integers of any size kept (as JSON numbers)."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:  # a lone surrogate or an integer beyond 64 bits: the slow, exact way
        return json.dumps(scrub(value), separators=(",", ":"), ensure_ascii=False)
    if "\\u0000" in text:
        # Maybe only text that spells a backslash and "u0000"; scrub decides.
        return orjson.dumps(scrub(value)).decode()
    return text


Handler = Callable[[Any, Any, Any], Awaitable[None]]


def storable_handlers(handlers: Mapping[str, Handler]) -> dict[str, Handler]:
    """Consumer handlers (`csm_kernel.consumer.Handler`) that see an event's text as PostgreSQL
    can hold it: when the event's data holds NUL or a lone surrogate, the handler gets the
    payload and envelope with those replaced by U+FFFD (the payload validated again from the
    scrubbed data), so it stores the event instead of failing on it and dead-lettering it.
    Events without such text reach the handler untouched (one `orjson.dumps` to tell)."""

    def wrap(handler: Handler) -> Handler:
        async def handle(conn: Any, envelope: Any, payload: Any) -> None:
            if _maybe_unstorable(envelope.data) and needs_scrub(envelope.data):
                data = scrub(envelope.data)
                envelope = envelope.model_copy(update={"data": data})
                payload = type(payload).model_validate(data)
            await handler(conn, envelope, payload)

        return handle

    return {event_type: wrap(handler) for event_type, handler in handlers.items()}
