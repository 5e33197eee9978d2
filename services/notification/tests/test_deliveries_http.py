"""The delivery log and template previews over HTTP, with the whole notification app running
(its sender sending to the real SMTP sink): what the national team sees, who may see it, and
putting a failed email back in the queue."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from notification.application.templates import KINDS

pytestmark = pytest.mark.infra

ROLES_WITHOUT_ACCESS = ("mapping-lead", "group-owner", "regulator")


def addresses(n: int, domain: str = "example.org") -> list[str]:
    tag = uuid.uuid4().hex[:10]
    return [f"lead{i}-{tag}@{domain}" for i in range(n)]


async def test_who_may_read_the_log_and_retry(notification_app: Any) -> None:
    async with notification_app("notif_roles") as n:
        [to] = addresses(1, "reject.invalid")
        failed = n.reopened(to)
        await n.record([failed])
        await n.settled([failed.id])
        gets = [
            "/notifications",
            "/notifications/summary",
            f"/notifications/{failed.id}",
            "/templates",
            "/templates/bulletin/preview",
        ]
        for path in gets:
            r = await n.client.get(path)
            assert r.status_code == 401, path
            for role in ROLES_WITHOUT_ACCESS:
                r = await n.client.get(path, headers=n.as_(role, org="5A4"))
                assert r.status_code == 403, (path, role)
            r = await n.client.get(path, headers=n.admin)
            assert r.status_code == 200, (path, r.text)
        # Auditors read the log, but neither retry nor preview templates.
        for path in gets[:3]:
            assert (await n.client.get(path, headers=n.auditor)).status_code == 200
        for path in gets[3:]:
            assert (await n.client.get(path, headers=n.auditor)).status_code == 403
        retry = f"/notifications/{failed.id}/retry"
        assert (await n.client.post(retry)).status_code == 401
        assert (await n.client.post(retry, headers=n.auditor)).status_code == 403
        assert (
            await n.client.post(retry, headers=n.as_("mapping-lead", org="5A4"))
        ).status_code == 403
        row = (await n.settled([failed.id]))[failed.id]
        assert row["status"] == "failed"  # none of those refused calls changed it


async def test_the_log_shows_each_delivery_and_its_cause_never_a_link(
    notification_app: Any,
) -> None:
    async with notification_app("notif_log") as n:
        sent = [n.reopened(to, organisation_id="5A4") for to in addresses(3)]
        other = n.reopened(addresses(1)[0], organisation_id="6B7")
        [bad] = addresses(1, "reject.invalid")
        refused = n.reopened(bad, organisation_id="5A4")
        [later] = addresses(1, "defer.invalid")
        waiting = n.reopened(later, organisation_id="5A4")
        everything = [*sent, other, refused, waiting]
        for intent in everything:  # one at a time: distinct creation times, newest last
            await n.record([intent])
            n.clock.advance(timedelta(seconds=1))
        rows = await n.settled([i.id for i in everything])
        assert rows[waiting.id]["status"] == "pending"  # deferred by the server (451)
        assert n.infra.delivered({i.id for i in everything}) == {i.id: 1 for i in [*sent, other]}

        r = await n.client.get(f"/notifications/{sent[0].id}", headers=n.admin)
        assert r.status_code == 200
        one = r.json()
        assert one["status"] == "sent"
        assert one["attempts"] == 1
        assert one["recipient"] == sent[0].recipient
        assert one["caused_by"] == sent[0].cause
        assert one["caused_by_type"] == "questionnaire.ReturnReopened"
        assert one["subject"] == "Reopened: Organisation 5A4, 2009-10"
        assert one["sent_at"] is not None and one["next_attempt_at"] is None
        assert "context" not in one and "link" not in one
        assert "https://" not in r.text  # no link of any kind

        r = await n.client.get(f"/notifications/{refused.id}", headers=n.auditor)
        failed = r.json()
        assert (failed["status"], failed["smtp_code"]) == ("failed", 550)
        assert "No such mailbox" in failed["last_error"]

        r = await n.client.get(f"/notifications/{waiting.id}", headers=n.admin)
        pending = r.json()
        assert (pending["status"], pending["attempts"], pending["smtp_code"]) == (
            "pending",
            1,
            451,
        )
        assert pending["next_attempt_at"] is not None

        assert (await n.client.get("/notifications/nope", headers=n.admin)).status_code == 404

        # Filters.
        async def ids(**params: Any) -> list[str]:
            r = await n.client.get("/notifications", params=params, headers=n.admin)
            assert r.status_code == 200, r.text
            return [item["id"] for item in r.json()["items"]]

        newest_first = [i.id for i in reversed(everything)]
        assert await ids() == newest_first
        assert await ids(organisation_id="6B7") == [other.id]
        assert await ids(status="failed") == [refused.id]
        assert await ids(status="pending") == [waiting.id]
        assert await ids(organisation_id="5A4", status="sent") == [i.id for i in reversed(sent)]
        assert await ids(recipient=sent[1].recipient.upper()) == [sent[1].id]
        assert await ids(caused_by=sent[2].cause) == [sent[2].id]
        assert await ids(kind="bulletin") == []
        since = (n.AT + timedelta(seconds=4)).isoformat()
        assert await ids(since=since) == newest_first[:2]
        r = await n.client.get("/notifications", params={"limit": 501}, headers=n.admin)
        assert r.status_code == 422
        r = await n.client.get("/notifications", params={"status": "lost"}, headers=n.admin)
        assert r.status_code == 422
        r = await n.client.get("/notifications", params={"before": "junk"}, headers=n.admin)
        assert r.status_code == 422

        # Pages: every delivery once, newest first, then the end.
        seen: list[str] = []
        cursor = None
        for _ in range(10):
            params: dict[str, Any] = {"limit": 2, **({"before": cursor} if cursor else {})}
            r = await n.client.get("/notifications", params=params, headers=n.admin)
            page = r.json()
            assert len(page["items"]) <= 2
            seen += [item["id"] for item in page["items"]]
            assert (page["previous"] is None) == (cursor is None)
            if page["next"] is None:
                break
            cursor = page["next"]
        assert seen == newest_first

        # And back again from the last page, a page at a time, to the start.
        last_page = [item["id"] for item in page["items"]]
        back: list[str] = []
        previous = page["previous"]
        while previous is not None:
            r = await n.client.get(
                "/notifications", params={"limit": 2, "after": previous}, headers=n.admin
            )
            page = r.json()
            back = [item["id"] for item in page["items"]] + back
            assert page["next"] is not None
            previous = page["previous"]
        assert back + last_page == newest_first

        # The summary: counts by kind and status, and the failures to look at.
        r = await n.client.get("/notifications/summary", headers=n.admin)
        summary = r.json()
        assert summary["totals"] == {"pending": 1, "sent": 4, "failed": 1}
        assert summary["by_kind"] == {"return-reopened": {"pending": 1, "sent": 4, "failed": 1}}
        assert summary["pending_with_errors"] == 1
        assert [f["id"] for f in summary["failed"]] == [refused.id]
        assert summary["failed"][0]["smtp_code"] == 550
        r = await n.client.get(
            "/notifications/summary", params={"organisation_id": "6B7"}, headers=n.auditor
        )
        assert r.json()["totals"] == {"pending": 0, "sent": 1, "failed": 0}

        # NotificationSent events in the store = delivered rows; NotificationFailed = failed.
        events = await n.pool.fetch(
            "SELECT type, count(*) FROM events WHERE type LIKE 'notification.%' GROUP BY type"
        )
        assert {e["type"]: e["count"] for e in events} == {
            "notification.NotificationSent": 4,
            "notification.NotificationFailed": 1,
        }


async def test_a_failed_email_retried_goes_out_once_as_its_streams_second_outcome(
    notification_app: Any,
) -> None:
    async with notification_app("notif_retry") as n:
        [to] = addresses(1)
        # An intent its template cannot write (no `reason`): failed for good, nothing sent.
        broken = dataclasses.replace(
            n.reopened(to), context={"name": "Ann Example", "cycle": "2009-10"}
        )
        sent = n.reopened(addresses(1)[0])
        await n.record([broken, sent])
        rows = await n.settled([broken.id, sent.id])
        assert rows[broken.id]["status"] == "failed"

        r = await n.client.post(f"/notifications/{sent.id}/retry", headers=n.admin)
        assert r.status_code == 409  # a sent email is never sent again from here
        r = await n.client.post("/notifications/nope/retry", headers=n.admin)
        assert r.status_code == 404

        # The team fixes what was wrong (here: the stored values), then retries.
        await n.pool.execute(
            "UPDATE notifications SET context = $2::jsonb WHERE id = $1",
            broken.id,
            json.dumps({**n.reopened(to).context}),
        )
        r = await n.client.post(f"/notifications/{broken.id}/retry", headers=n.admin)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "pending" and r.json()["attempts"] == 0
        rows = await n.settled([broken.id])
        assert rows[broken.id]["status"] == "sent"
        assert n.infra.delivered({broken.id, sent.id}) == {broken.id: 1, sent.id: 1}
        events = await n.pool.fetch(
            "SELECT type, stream_version FROM events WHERE stream_id = $1 ORDER BY stream_version",
            f"notification-{broken.id}",
        )
        assert [(e["type"], e["stream_version"]) for e in events] == [
            ("notification.NotificationFailed", 1),
            ("notification.NotificationSent", 2),
        ]
        r = await n.client.post(f"/notifications/{broken.id}/retry", headers=n.admin)
        assert r.status_code == 409


async def test_every_template_previews_with_sample_values_and_no_working_link(
    notification_app: Any,
) -> None:
    async with notification_app("notif_templates") as n:
        r = await n.client.get("/templates", headers=n.admin)
        assert r.status_code == 200
        assert sorted(t["kind"] for t in r.json()) == sorted(KINDS)
        for kind in KINDS:
            r = await n.client.get(f"/templates/{kind}/preview", headers=n.admin)
            assert r.status_code == 200, (kind, r.text)
            written = r.json()
            assert written["subject"] and "{{" not in written["subject"]
            assert "Children's Services Mapping" in written["html"]
            text = await n.client.get(
                f"/templates/{kind}/preview", params={"part": "text"}, headers=n.admin
            )
            assert text.headers["content-type"].startswith("text/plain")
            assert text.text == written["text"]
            html = await n.client.get(
                f"/templates/{kind}/preview", params={"part": "html"}, headers=n.admin
            )
            assert html.headers["content-type"].startswith("text/html")
            assert html.text == written["html"]
            # Any link points nowhere real.
            for part in (written["text"], written["html"]):
                for word in part.replace('"', " ").split():
                    if word.startswith("http"):
                        assert word.startswith("https://example.invalid/"), (kind, word)
        setup = (await n.client.get("/templates/account-set-up/preview", headers=n.admin)).json()
        assert "https://example.invalid/account/set-up?token=" in setup["text"]
        assert "Dear Ann Example" in setup["text"]
        r = await n.client.get("/templates/no-such-kind/preview", headers=n.admin)
        assert r.status_code == 404
        r = await n.client.get(
            "/templates/bulletin/preview", params={"part": "pdf"}, headers=n.admin
        )
        assert r.status_code == 422
