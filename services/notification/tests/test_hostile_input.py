"""Hostile input at the notification service, on the real app (issue #24): NUL and text that
is not UTF-8 in a bulletin, its filter and the delivery log's filters answer 422 naming the
field (a NUL in a bulletin's body was a 500), and an absurdly long filter is refused."""

from __future__ import annotations

from typing import Any


def _fields(r: Any) -> list[str]:
    assert r.status_code == 422, (r.status_code, r.text)
    return [d["field"] for d in r.json()["details"]]


async def test_hostile_bulletins_and_filters_are_refused(notification_app) -> None:
    async with notification_app("notif_hostile") as n:
        c, admin = n.client, n.admin
        r = await c.post("/bulletins", headers=admin, json={"subject": "Hi", "body": "a\x00b"})
        assert _fields(r) == ["body"]
        r = await c.post(
            "/bulletins",
            headers=admin,
            json={"subject": "Hi", "body": "Hello", "filter": {"regions": ["lon\x00don"]}},
        )
        assert _fields(r) == ["filter.regions.0"]
        r = await c.post(
            "/bulletins",
            headers=admin,
            json={
                "subject": "Hi",
                "body": "Hello",
                "filter": {"organisation_ids": ["5A4"] * 10_001},
            },
        )
        assert _fields(r) == ["filter.organisation_ids"]
        r = await c.post(
            "/bulletins",
            headers=admin,
            json={"subject": "Hi", "body": "Hello", "filter": {"kinds": ["x" * 101]}},
        )
        assert _fields(r) == ["filter.kinds.0"]
        assert _fields(await c.get("/notifications?kind=%00", headers=admin)) == ["query.kind"]
        r = await c.get("/notifications?recipient=" + "a" * 255, headers=admin)
        assert _fields(r) == ["query.recipient"]
        assert _fields(await c.get("/templates/%ff%fe/preview", headers=admin)) == ["path.kind"]
        assert await n.pool.fetchval("SELECT count(*) FROM notifications") == 0
