"""The transport every service adapter shares: one service's HTTP API, as the portal calls it.

Every call goes through `Api.call`, which turns the two ways a call can fail into the two
exceptions of `application.errors`: the service could not be reached or failed
(`ServiceUnavailable`, naming it), or it refused the request (`ApiError`, with the status and
the `{"error", "details"}` body every service returns)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from ..application.errors import ApiError, ServiceUnavailable

T = TypeVar("T")


@dataclass
class Reply:
    status: int
    body: Any
    headers: httpx.Headers
    content: bytes = b""


class Api:
    """One service's API: a base URL and a shared connection pool."""

    def __init__(self, service: str, client: httpx.AsyncClient) -> None:
        self.service = service
        self.client = client

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        params: Mapping[str, str | int | list[str] | None] | None = None,
        raw: bool = False,
        content: bytes | None = None,
        wait_seconds: float | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if token:
            sent["authorization"] = f"Bearer {token}"
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            extra: dict[str, Any] = {} if wait_seconds is None else {"timeout": wait_seconds}
            r = await self.client.request(
                method,
                _encoded(path),
                headers=sent,
                json=json,
                params=query,
                content=content,
                **extra,
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(self.service, type(exc).__name__) from exc
        if r.status_code >= 500:
            raise ServiceUnavailable(self.service, f"HTTP {r.status_code}")
        if r.status_code >= 400:
            body = _json(r)
            message = body.get("error") if isinstance(body, dict) else None
            details = body.get("details") if isinstance(body, dict) else None
            raise ApiError(
                self.service,
                r.status_code,
                str(message or r.reason_phrase),
                [d for d in details if isinstance(d, dict)] if isinstance(details, list) else [],
            )
        if raw:
            return Reply(r.status_code, None, r.headers, r.content)
        return Reply(r.status_code, _json(r) if r.content else None, r.headers)

    async def fetch(self, into: TypeAdapter[T], method: str, path: str, **kw: Any) -> T:
        """A call whose answer is parsed into the portal's read model `into`."""
        return into.validate_python((await self.call(method, path, **kw)).body)

    async def send(self, method: str, path: str, **kw: Any) -> None:
        """A call whose answer the pages do not read."""
        await self.call(method, path, **kw)

    async def aclose(self) -> None:
        await self.client.aclose()


def _encoded(path: str) -> str:
    """The path with every character a URL path cannot hold as it is percent-encoded.

    Pages put their own path parameters (already decoded) into the services' paths: a `?`, `#`,
    `%`, space or control character in one must stay part of that segment, not end the path
    (or make the URL unsendable, which was a 500)."""
    return quote(path, safe="/")


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return None
