"""The notification service's API as the portal's `NotificationApi` port."""

from __future__ import annotations

from pydantic import TypeAdapter

from ..application.models import Bulletin, JsonObject, NotificationsPage, Reminders
from .api import Api

_REMINDERS = TypeAdapter(Reminders)
_BULLETINS = TypeAdapter(list[Bulletin])
_BULLETIN = TypeAdapter(Bulletin)
_NOTIFICATIONS = TypeAdapter(NotificationsPage)


class HttpNotification:
    def __init__(self, api: Api) -> None:
        self.api = api

    async def reminders(self, token: str, cycle: str) -> Reminders:
        return await self.api.fetch(_REMINDERS, "GET", f"/reminders/{cycle}", token=token)

    async def set_reminder_schedule(self, token: str, cycle: str, days_before: list[int]) -> None:
        await self.api.send(
            "PUT", f"/reminders/{cycle}/schedule", token=token, json={"days_before": days_before}
        )

    async def bulletins(self, token: str) -> list[Bulletin]:
        return await self.api.fetch(_BULLETINS, "GET", "/bulletins", token=token)

    async def preview_bulletin(self, token: str, body: JsonObject) -> JsonObject:
        answer = (await self.api.call("POST", "/bulletins/preview", token=token, json=body)).body
        return answer if isinstance(answer, dict) else {}

    async def publish_bulletin(self, token: str, body: JsonObject) -> int | None:
        sent = (await self.api.call("POST", "/bulletins", token=token, json=body)).body
        count = sent.get("recipients") if isinstance(sent, dict) else None
        return count if isinstance(count, int) else None

    async def bulletin(self, token: str, bulletin_id: str) -> Bulletin:
        return await self.api.fetch(_BULLETIN, "GET", f"/bulletins/{bulletin_id}", token=token)

    async def send_bulletin_now(self, token: str, bulletin_id: str) -> Bulletin:
        return await self.api.fetch(
            _BULLETIN, "POST", f"/bulletins/{bulletin_id}/send", token=token
        )

    async def cancel_bulletin(self, token: str, bulletin_id: str) -> Bulletin:
        return await self.api.fetch(
            _BULLETIN, "POST", f"/bulletins/{bulletin_id}/cancel", token=token
        )

    async def notifications(
        self,
        token: str,
        *,
        status: str | None,
        before: str | None,
        limit: int,
        recipient: str | None = None,
        kind: str | None = None,
        after: str | None = None,
    ) -> NotificationsPage:
        return await self.api.fetch(
            _NOTIFICATIONS,
            "GET",
            "/notifications",
            token=token,
            params={
                "status": status,
                "before": before,
                "after": after,
                "limit": limit,
                "recipient": recipient,
                "kind": kind,
            },
        )
