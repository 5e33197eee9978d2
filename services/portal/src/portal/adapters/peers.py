"""The services' readiness, asked over their own probes (`/health/ready`), all at once."""

from __future__ import annotations

import asyncio

import httpx

from .api import Api

#: A probe that takes longer than this counts as not answering (a status page must not hang).
PROBE_SECONDS = 2.0


class HttpPeers:
    """Implements `application.ports.Peers` over the services' clients."""

    def __init__(self, apis: list[Api]) -> None:
        self.apis = apis

    async def readiness(self) -> dict[str, str]:
        answers = await asyncio.gather(*(self._probe(api) for api in self.apis))
        return {api.service: answer for api, answer in zip(self.apis, answers, strict=True)}

    async def _probe(self, api: Api) -> str:
        try:
            r = await api.client.get("/health/ready", timeout=PROBE_SECONDS)
        except httpx.HTTPError as exc:
            return f"not answering ({type(exc).__name__})"
        if r.status_code == 200:
            return "ready"
        try:
            problems = r.json().get("problems", [])
        except ValueError:
            problems = []
        return "not ready: " + ("; ".join(map(str, problems)) or f"HTTP {r.status_code}")
