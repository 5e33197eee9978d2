"""The services' HTTP APIs as the portal calls them.

Every call goes through `Api.call`, which turns the two ways a call can fail into two
exceptions the web layer maps in one place (`entrypoints/web/errors.py`): the service could
not be reached or failed (`ServiceUnavailable`, naming it), or it refused the request
(`ApiError`, with the status and the `{"error", "details"}` body every service returns)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

#: How each service is named to people when it is down.
SERVICE_NAMES = {
    "registration": "registration and sign-in service",
    "questionnaire": "questionnaire service",
    "reporting": "reporting service",
    "notification": "notification service",
}


class ServiceUnavailable(Exception):
    """A service did not answer, or answered with a server error."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason

    @property
    def label(self) -> str:
        return SERVICE_NAMES.get(self.service, f"{self.service} service")


@dataclass
class ApiError(Exception):
    """A service refused a request (4xx): its status, message and per-field details."""

    service: str
    status: int
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.service} {self.status}: {self.message}"


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
        headers: dict[str, str] | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        raw: bool = False,
    ) -> Reply:
        sent = dict(headers or {})
        if token:
            sent["authorization"] = f"Bearer {token}"
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            r = await self.client.request(
                method, _encoded(path), headers=sent, json=json, params=query
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
                list(details or []) if isinstance(details, list) else [],
            )
        if raw:
            return Reply(r.status_code, None, r.headers, r.content)
        return Reply(r.status_code, _json(r) if r.content else None, r.headers)

    async def get(self, path: str, **kw: Any) -> Any:
        return (await self.call("GET", path, **kw)).body

    async def post(self, path: str, **kw: Any) -> Any:
        return (await self.call("POST", path, **kw)).body

    async def put(self, path: str, **kw: Any) -> Any:
        return (await self.call("PUT", path, **kw)).body

    async def patch(self, path: str, **kw: Any) -> Any:
        return (await self.call("PATCH", path, **kw)).body


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


@dataclass
class Apis:
    """Every service the portal calls."""

    registration: Api
    questionnaire: Api
    reporting: Api
    notification: Api

    @classmethod
    def over(cls, clients: dict[str, httpx.AsyncClient]) -> Apis:
        return cls(**{name: Api(name, client) for name, client in clients.items()})

    async def aclose(self) -> None:
        for api in (self.registration, self.questionnaire, self.reporting, self.notification):
            await api.client.aclose()
