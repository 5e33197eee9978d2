"""The edge: what a request may carry before any route sees it, checked in one place.

`EdgeGuard` is an ASGI middleware every service (`csm_kernel.runtime.create_app`) and the
portal install. It refuses, with 422 naming the field:

- U+0000 (NUL) and text that is not UTF-8 (invalid bytes, or a lone surrogate written as a JSON
  `\\ud800` escape) in the path (`path.<parameter>`), a query parameter's name or value
  (`query.<name>`), a JSON body (any string at any depth, object keys too: `answers.note`,
  `items.0.name`), JSON lines (`line` says which), form fields (urlencoded or multipart; file
  parts are the route's business) or any other body;
- an `X-Correlation-Id` header that is not a short printable token (it is stored in every event
  the request appends);

and with 413 a body over `max_body_bytes` (a route may allow more with `body_limit`), or JSON
of more than `MAX_JSON_VALUES` values: parsed, 3.5 MB of small keys took 58 MB.

PostgreSQL text cannot hold NUL and a lone surrogate is not UTF-8 at all: without this, such
input answered 500 wherever it reached the database, or was stored in an event (the store keeps
JSON as text, where `\\u0000` is fine) and broke a consumer later. Nothing else is checked here:
what a field means is its request model's business.

The happy path is a few byte scans (no NUL byte, no `\\u0000` or surrogate escape, no
percent-encoded byte over 0x7F, ASCII or valid UTF-8) over a buffered body of at most
`max_body_bytes`; only a request that fails them is parsed to name the field. A route with a
larger `body_limit` (a file import) is not buffered: its body streams to the route through the
same checks, refusing from inside the route's read (`InvalidInput`, `PayloadTooLarge`), so an
import that is refused by its sign-in check is never read at all.
"""

from __future__ import annotations

import codecs
import contextlib
import ctypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi.responses import JSONResponse
from starlette.responses import Response

from .edge_checks import (
    MAX_JSON_VALUES,
    NUL_REASON,
    UTF8_REASON,
    body_problems,
    header_problems,
    matching_route,
    path_problems,
    problem,
    shown,
    too_many_json_values,
    urlencoded_problems,
)
from .errors import CSMError, InvalidInput
from .observability import get_logger
from .request_tracing import ASGIApp, Message, Receive, Scope, Send

log = get_logger(__name__)

#: The default cap on a request body: every JSON body a service takes is far smaller.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
#: Details listed at most in one refusal.
MAX_DETAILS = 20

_LIMIT_ATTRIBUTE = "__csm_body_limit__"
#: After a streamed body this large, free memory is handed back to the system.
TRIM_AFTER_BYTES = 8 * 1024 * 1024

F = TypeVar("F", bound=Callable[..., Any])


def body_limit(max_bytes: int) -> Callable[[F], F]:
    """Let one route take a body up to `max_bytes` (a file import) instead of the service's
    cap. Its body is streamed to the route, checked on the way, rather than buffered."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, _LIMIT_ATTRIBUTE, max_bytes)
        return endpoint

    return mark


class PayloadTooLarge(CSMError):
    """A request body over the limit (413)."""

    status_code = 413


@dataclass
class Refusal:
    """Why a request was refused before it reached a route."""

    status: int
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)


Respond = Callable[[Scope, Refusal], Awaitable[Response]]


async def json_refusal(scope: Scope, refusal: Refusal) -> Response:
    """The kernel's error body: `{"error": ..., "details": [{"field", "reason"}]}`."""
    return JSONResponse(
        status_code=refusal.status,
        content={"error": refusal.message, "details": refusal.details},
        headers={"Connection": "close"} if refusal.status == 413 else None,
    )


def _invalid(details: list[dict[str, Any]]) -> Refusal:
    summary = "; ".join(f"{d['field']}: {d['reason']}" for d in details[:3])
    return Refusal(422, f"invalid request: {summary}", details[:MAX_DETAILS])


def _too_large(limit: int) -> Refusal:
    return Refusal(
        413,
        f"the request body is larger than {_size(limit)}",
        [problem("body", f"at most {limit} bytes")],
    )


def _too_many_values() -> Refusal:
    return Refusal(
        413,
        f"the request body holds more than {MAX_JSON_VALUES} JSON values",
        [problem("body", f"at most {MAX_JSON_VALUES} values")],
    )


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n} bytes"


# --- the middleware -----------------------------------------------------------------------------


class EdgeGuard:
    """Refuses what a request must not carry (see the module docstring) before the app sees
    it; `respond` shapes the refusal (the kernel's JSON error body by default)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        respond: Respond = json_refusal,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problems = (
            path_problems(scope)
            + urlencoded_problems(scope.get("query_string", b""), "query.")
            + header_problems(scope)
        )
        if problems:
            await self._refuse(scope, receive, send, _invalid(problems))
            return
        content_type, length, has_body = _body_headers(scope)
        if not has_body:
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        if length is not None and length > limit:
            limit = self._route_limit(scope)
            if length > limit:
                await self._refuse(scope, receive, send, _too_large(limit))
                return
        if limit > self.max_body_bytes:
            await self._streamed(scope, send, _Streamed(receive, limit))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # nobody is waiting for an answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                read = [*chunks, chunk]
                limit = self._route_limit(scope)
                if size > limit:
                    await self._refuse(scope, receive, send, _too_large(limit))
                    return
                # A route that takes more: stream the rest to it, checked on the way.
                del chunks  # now the stream's
                await self._streamed(scope, send, _Streamed(receive, limit, read, message))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        del chunks
        if too_many_json_values(content_type, body):
            await self._refuse(scope, receive, send, _too_many_values())
            return
        problems = body_problems(content_type, body)
        if problems:
            await self._refuse(scope, receive, send, _invalid(problems))
            return
        await self.app(scope, _replay(body, receive), send)

    async def _streamed(self, scope: Scope, send: Send, body: _Streamed) -> None:
        try:
            await self.app(scope, body.receive, send)
        finally:
            if body.size > TRIM_AFTER_BYTES:
                release_free_memory()

    def _route_limit(self, scope: Scope) -> int:
        """The larger body limit of the route this request is for, else the service's."""
        found = matching_route(scope)
        endpoint = getattr(found[0], "endpoint", None) if found is not None else None
        return int(getattr(endpoint, _LIMIT_ATTRIBUTE, self.max_body_bytes))

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, refusal: Refusal) -> None:
        log.info(
            "request refused at the edge",
            status=refusal.status,
            path=shown(scope.get("raw_path") or b"")[:200],
            fields=[d["field"][:100] for d in refusal.details],
        )
        response = await self.respond(scope, refusal)
        await response(scope, receive, send)


def _body_headers(scope: Scope) -> tuple[bytes | None, int | None, bool]:
    content_type = None
    length: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
        elif name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"transfer-encoding":
            chunked = True
    return content_type, length, chunked or bool(length)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body as one message, then the server's own (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class _Streamed:
    """A large body passed to its route as it arrives, refused from within the route's read
    (the service's error handlers answer): over the route's limit (413), or with NUL or bytes
    that are not UTF-8 (422; `line` counts JSON lines and CSV rows alike)."""

    def __init__(
        self,
        receive: Receive,
        limit: int,
        read: list[bytes] | None = None,
        last: Message | None = None,
    ) -> None:
        self._receive = receive
        self.limit = limit
        self._pending = list(read or [])
        self._last_more = True if last is None else bool(last.get("more_body", False))
        self.size = 0
        self._line = 1
        self._tail = b""
        self._utf8 = codecs.getincrementaldecoder("utf-8")()

    async def receive(self) -> Message:
        if self._pending:
            chunk = self._pending.pop(0)
            more = bool(self._pending) or self._last_more
            message: Message = {"type": "http.request", "body": chunk, "more_body": more}
        else:
            message = await self._receive()
            if message["type"] != "http.request":
                return message
            chunk = message.get("body", b"")
            more = bool(message.get("more_body", False))
        self._check(chunk, final=not more)
        return message

    def _check(self, chunk: bytes, *, final: bool) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            refusal = _too_large(self.limit)
            raise PayloadTooLarge(refusal.message, details=refusal.details)
        # The last bytes of the chunk before: a `\u0000` escape may straddle two chunks.
        window = self._tail + chunk
        reason, at = None, -1
        if (at := chunk.find(b"\x00")) >= 0:
            reason = NUL_REASON
        elif (at := window.find(b"\\u0000")) >= 0:
            reason, at = NUL_REASON, max(0, at - len(self._tail))
        else:
            try:
                self._utf8.decode(chunk, final)
            except UnicodeDecodeError as exc:
                reason, at = UTF8_REASON, max(0, min(exc.start, len(chunk)))
        if reason is not None:
            line = self._line + chunk[:at].count(b"\n")
            found = problem("body", reason, line=line)
            raise InvalidInput(f"invalid request: body: {reason} (line {line})", details=[found])
        self._line += chunk.count(b"\n")
        self._tail = window[-5:]


def release_free_memory() -> None:
    """Hand memory the process has freed back to the system (glibc's `malloc_trim`).

    A large body (an import of tens of MB) is parsed into many small objects; once freed,
    glibc keeps their pages for reuse, so the process's RSS stays at the import's high-water
    mark. Measured on registration after three 42 MB imports (from 85 MB): 140 MB kept
    without this, 111 MB with it. Elsewhere (not glibc) it does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def install_edge(
    app: Any, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, respond: Respond = json_refusal
) -> None:
    """Add `EdgeGuard` to a Starlette/FastAPI app (inside the request tracing, which is added
    last, so refused requests are traced too)."""
    app.add_middleware(EdgeGuard, max_body_bytes=max_body_bytes, respond=respond)
