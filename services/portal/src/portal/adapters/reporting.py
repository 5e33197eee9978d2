"""The reporting service's API as the portal's `ReportingApi` port."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import TypeAdapter

from ..application.models import JsonObject, ReportFile, ReportListing, SubjectChoices
from ..application.participation import ParticipationPage
from .api import Api

_LISTED = TypeAdapter(list[ReportListing])
_OBJECT = TypeAdapter(JsonObject)
_SUBJECTS = TypeAdapter(SubjectChoices)
_PARTICIPATION = TypeAdapter(ParticipationPage)


class HttpReporting:
    def __init__(self, api: Api) -> None:
        self.api = api

    async def reports(self, token: str) -> list[ReportListing]:
        return await self.api.fetch(_LISTED, "GET", "/reports", token=token)

    async def report(self, token: str, name: str, params: Mapping[str, str]) -> JsonObject:
        return await self.api.fetch(_OBJECT, "GET", f"/reports/{name}", token=token, params=params)

    async def report_file(self, token: str, name: str, params: Mapping[str, str]) -> ReportFile:
        reply = await self.api.call("GET", f"/reports/{name}", token=token, params=params, raw=True)
        return ReportFile(
            content=reply.content,
            content_type=reply.headers.get("content-type"),
            content_disposition=reply.headers.get("content-disposition"),
        )

    async def subjects(
        self, token: str, name: str, search: str | None, limit: int
    ) -> SubjectChoices:
        params = {"limit": str(limit), **({"q": search} if search else {})}
        return await self.api.fetch(
            _SUBJECTS, "GET", f"/reports/{name}/subjects", token=token, params=params
        )

    async def participation(
        self, token: str, cycle: str, params: Mapping[str, str | int | None]
    ) -> ParticipationPage:
        return await self.api.fetch(
            _PARTICIPATION, "GET", f"/cycles/{cycle}/participation", token=token, params=params
        )

    async def participation_file(
        self, token: str, cycle: str, params: Mapping[str, str | int | None]
    ) -> ReportFile:
        reply = await self.api.call(
            "GET",
            f"/cycles/{cycle}/participation",
            token=token,
            params={**params, "format": "csv"},
            raw=True,
        )
        return ReportFile(
            content=reply.content,
            content_type=reply.headers.get("content-type"),
            content_disposition=reply.headers.get("content-disposition"),
        )
