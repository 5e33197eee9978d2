"""The sender on real PostgreSQL and the real SMTP sink: every recorded email reaches the server
exactly once, whatever happens to the server; each outcome is recorded with its event."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email
import email.policy
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from notification.application.sender import Sender

#: The `mailer` fixture (this directory's conftest): a sender's database, clock and the sink.
Mailer = Any
AT = datetime(2009, 11, 10, 9, 0, tzinfo=UTC)

pytestmark = pytest.mark.infra


def unique(n: int = 1, domain: str = "example.org") -> list[str]:
    tag = uuid.uuid4().hex[:10]
    return [f"lead{i}-{tag}@{domain}" for i in range(n)]


@contextlib.asynccontextmanager
async def running(sender: Sender):
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


def kept_message(mailer: Mailer, notification_id: str) -> email.message.EmailMessage:
    for path in sorted(mailer.infra.mail_dir.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if msg["X-CSM-Notification"] == notification_id:
            return msg  # type: ignore[return-value]
    raise AssertionError(f"{notification_id} not at the server")


async def test_an_intent_recorded_twice_is_one_email_with_its_sent_event(mailer: Mailer) -> None:
    [to] = unique()
    intent = mailer.reopened(to)
    assert await mailer.record([intent]) == 1
    assert await mailer.record([mailer.reopened(to, cause=intent.cause)]) == 0  # redelivered cause

    sender = mailer.sender()
    assert await sender.send_due() == 1
    assert await sender.send_due() == 0
    await sender.close()

    assert mailer.delivered([intent.id]) == {intent.id: 1}
    msg = kept_message(mailer, intent.id)
    assert msg["To"] == to
    assert msg["Message-ID"] == f"<{intent.id}@csm.local>"
    assert msg["Subject"] == "Reopened: Organisation 5A4, 2009-10"
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "Dear Ann Example" in text
    assert "https://csm.example/returns/2009-10" in text  # the link, made when written

    row = (await mailer.rows([intent.id]))[intent.id]
    assert (row["status"], row["attempts"], row["sent_at"]) == ("sent", 1, AT)
    assert row["subject"] == "Reopened: Organisation 5A4, 2009-10"
    [event] = await mailer.events([intent.id])
    assert (event["type"], event["stream_version"]) == ("notification.NotificationSent", 1)
    assert event["actor"] == "service:notification"
    assert event["causation_id"] == intent.cause
    data = json.loads(event["data"])
    assert data["notification_id"] == intent.id
    assert data["organisation_id"] == "5A4"
    assert data["recipient"] == to
    assert data["kind"] == "return-reopened"
    assert data["attempts"] == 1
    assert data["caused_by_type"] == "questionnaire.ReturnReopened"
    assert "link" not in data and "csm.example/returns" not in event["data"]


async def test_250_intents_are_250_messages_each_once_even_with_two_senders(
    mailer: Mailer,
) -> None:
    intents = [mailer.reopened(to) for to in unique(250)]
    assert await mailer.record(intents) == 250
    ids = {i.id for i in intents}
    # Two senders (two replicas) at once: SKIP LOCKED gives each row to exactly one.
    first = mailer.sender(batch=40, connections=1)
    second = mailer.sender(batch=40, connections=2)

    async def all_sent() -> bool:
        rows = await mailer.rows(ids)
        return all(r["status"] == "sent" for r in rows.values())

    async with running(first), running(second):
        await mailer.eventually(all_sent)

    assert mailer.delivered(ids) == dict.fromkeys(ids, 1)
    events = await mailer.events(ids)
    assert Counter(e["type"] for e in events) == {"notification.NotificationSent": 250}
    assert {e["stream_id"] for e in events} == {f"notification-{i}" for i in ids}
    assert {e["stream_version"] for e in events} == {1}
    # 250 messages over three SMTP sessions: each opened once and kept open.
    assert sum(c.connects for c in first.connections + second.connections) <= 3


async def test_smtp_down_loses_nothing_and_doubles_nothing_when_it_comes_back(
    mailer: Mailer,
) -> None:
    intents = [mailer.reopened(to) for to in unique(30)]
    await mailer.record(intents)
    ids = {i.id for i in intents}
    # A few delivered before the outage.
    sender = mailer.sender(batch=10, max_backoff_seconds=0.4)
    assert await sender.send_due() == 10

    mailer.infra.stop_smtp()
    try:
        batch = await sender.send_batch()
        assert batch.sent == 0 and batch.unavailable is not None
        rows = await mailer.rows(ids)
        waiting = [r for r in rows.values() if r["status"] == "pending"]
        assert len(waiting) == 20
        # Nobody's email was handed over, so nobody's attempts were spent on the outage;
        # the log says why they wait.
        assert {r["attempts"] for r in waiting} == {0}
        claimed = [r for r in waiting if r["last_error"]]
        assert len(claimed) == 10
        assert all("unavailable" in r["last_error"] for r in claimed)

        # The loop keeps trying (backing off) while the server is away.
        stop = asyncio.Event()
        task = asyncio.create_task(sender.run(stop))
        await asyncio.sleep(1.5)
        assert not task.done()
        rows = await mailer.rows(ids)
        assert sum(r["status"] == "sent" for r in rows.values()) == 10
    finally:
        mailer.infra.start_smtp()

    async def all_sent() -> bool:
        return all(r["status"] == "sent" for r in (await mailer.rows(ids)).values())

    await mailer.eventually(all_sent)
    stop.set()
    await asyncio.wait_for(task, 15)

    assert mailer.delivered(ids) == dict.fromkeys(ids, 1)
    events = await mailer.events(ids)
    assert len(events) == 30
    assert {e["type"] for e in events} == {"notification.NotificationSent"}
    assert {r["attempts"] for r in (await mailer.rows(ids)).values()} == {1}


async def test_a_refused_mailbox_fails_at_once_and_the_others_still_go(mailer: Mailer) -> None:
    [bad] = unique(1, domain="reject.invalid")
    good = [mailer.reopened(to) for to in unique(3)]
    refused = mailer.reopened(bad)
    await mailer.record([good[0], refused, *good[1:]])
    ids = {i.id for i in good} | {refused.id}

    sender = mailer.sender()
    assert await sender.send_due() == 3
    await sender.close()

    assert mailer.delivered(ids) == {i.id: 1 for i in good}
    row = (await mailer.rows([refused.id]))[refused.id]
    assert (row["status"], row["smtp_code"], row["attempts"]) == ("failed", 550, 1)
    assert "No such mailbox" in row["last_error"]
    events = {e["stream_id"]: e for e in await mailer.events(ids)}
    failed = events[f"notification-{refused.id}"]
    assert failed["type"] == "notification.NotificationFailed"
    data = json.loads(failed["data"])
    assert data["smtp_code"] == 550
    assert "5.1.1 No such mailbox" in data["reason"]
    assert data["recipient"] == bad
    assert data["subject"] == "Reopened: Organisation 5A4, 2009-10"
    assert [events[f"notification-{i.id}"]["type"] for i in good] == [
        "notification.NotificationSent"
    ] * 3
    # Nothing left to try.
    assert await mailer.sender().send_due() == 0


async def test_a_temporary_refusal_backs_off_then_fails_after_max_attempts(
    mailer: Mailer,
) -> None:
    [later] = unique(1, domain="defer.invalid")
    deferred = mailer.reopened(later)
    await mailer.record([deferred])
    sender = mailer.sender(max_attempts=3)

    assert await sender.send_due() == 0
    row = (await mailer.rows([deferred.id]))[deferred.id]
    assert (row["status"], row["attempts"], row["smtp_code"]) == ("pending", 1, 451)
    assert row["next_attempt_at"] == AT + timedelta(seconds=5)
    assert "Try again later" in row["last_error"]

    # Not due again until its backoff has passed: no second attempt meanwhile.
    assert (await sender.send_batch()).claimed == 0
    mailer.clock.advance(timedelta(seconds=5))
    assert (await sender.send_batch()).deferred == 1
    row = (await mailer.rows([deferred.id]))[deferred.id]
    assert row["attempts"] == 2
    assert row["next_attempt_at"] == mailer.clock.now() + timedelta(seconds=10)
    assert await mailer.events([deferred.id]) == []

    mailer.clock.advance(timedelta(seconds=10))
    assert (await sender.send_batch()).failed == 1
    await sender.close()
    row = (await mailer.rows([deferred.id]))[deferred.id]
    assert (row["status"], row["attempts"], row["smtp_code"]) == ("failed", 3, 451)
    [event] = await mailer.events([deferred.id])
    assert event["type"] == "notification.NotificationFailed"
    data = json.loads(event["data"])
    assert (data["attempts"], data["smtp_code"]) == (3, 451)
    assert mailer.delivered([deferred.id]) == {}


async def test_an_email_that_cannot_be_written_fails_for_good_without_sending(
    mailer: Mailer,
) -> None:
    [to] = unique()
    # Its template needs `organisation_name` and `reason`; the intent lacks them.
    broken = dataclasses.replace(
        mailer.reopened(to), context={"name": "Ann Example", "cycle": "2009-10"}
    )
    await mailer.record([broken])
    sender = mailer.sender()
    assert await sender.send_due() == 0
    await sender.close()
    row = (await mailer.rows([broken.id]))[broken.id]
    assert row["status"] == "failed"
    assert row["smtp_code"] is None
    assert "cannot write the email" in row["last_error"]
    assert "undefined" in row["last_error"]
    [event] = await mailer.events([broken.id])
    assert event["type"] == "notification.NotificationFailed"
    assert mailer.delivered([broken.id]) == {}


async def test_the_run_loop_wakes_for_new_intents_and_stops_cleanly(mailer: Mailer) -> None:
    sender = mailer.sender(idle_seconds=5)
    async with running(sender) as task:
        await asyncio.sleep(0.2)  # idle now, waiting up to 5 s
        [to] = unique()
        intent = mailer.reopened(to)
        await mailer.record([intent])
        sender.wake()

        async def sent() -> bool:
            return (await mailer.rows([intent.id]))[intent.id]["status"] == "sent"

        await mailer.eventually(sent, timeout=3)
    assert task.done() and task.exception() is None
    assert mailer.delivered([intent.id]) == {intent.id: 1}


def _parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def _body(msg: email.message.EmailMessage, subtype: str) -> str:
    part = msg.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


@pytest.mark.parametrize(
    "subject, text",
    [
        ("Reopened: Anytown PCT, 2009-10", "Dear Ann,\n\nA line.\n"),
        (
            "Reopened: Zoë Östergård\u2019s PCT, 2009-10 — a long subject that has to be folded "
            "over more than one line because it goes on",
            "Dear Zoë,\n\n" + "a long line with = signs and trailing space " * 8 + " \n"
            ".a line starting with a dot\nFrom the start of a line\n\tand a tab\n",
        ),
    ],
)
def test_the_email_as_written_parses_back_to_what_was_rendered(subject: str, text: str) -> None:
    from notification.application.sender import from_header, write_message
    from notification.application.templates import Rendered, message

    rendered = Rendered(subject=subject, text=text, html=f"<p>{text}</p>\n")
    raw = write_message(
        rendered,
        sender=from_header("Zoë\u2019s Mapping Team <csm@csm.example>"),
        to="ann@anytown.nhs.uk",
        notification_id="n-1",
        date=AT,
    )
    assert raw.isascii()  # 7-bit: any server takes it
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    ours = _parsed(raw)
    reference = _parsed(
        message(
            rendered,
            sender="Zoë\u2019s Mapping Team <csm@csm.example>",
            to="ann@anytown.nhs.uk",
            notification_id="n-1",
        ).as_bytes()
    )
    for name in ("From", "To", "Subject", "Message-ID", "X-CSM-Notification"):
        assert str(ours[name]) == str(reference[name]), name
    assert str(ours["Subject"]) == subject
    assert ours["Date"].datetime == AT
    assert ours.get_content_type() == "multipart/alternative"
    assert _body(ours, "plain") == text == _body(reference, "plain")
    assert _body(ours, "html") == f"<p>{text}</p>\n" == _body(reference, "html")


def test_a_line_break_in_a_header_value_is_refused() -> None:
    from notification.application.sender import write_message
    from notification.application.templates import Rendered

    with pytest.raises(ValueError):
        write_message(
            Rendered("s", "t", "h"),
            sender="csm@csm.example",
            to="ann@anytown.nhs.uk\r\nBcc: everyone@example.org",
            notification_id="n-1",
            date=AT,
        )


async def test_stopping_mid_send_commits_the_batch_in_hand(mailer: Mailer) -> None:
    intents = [mailer.reopened(to) for to in unique(300)]
    await mailer.record(intents)
    ids = {i.id for i in intents}
    sender = mailer.sender(batch=50, connections=2)
    task = asyncio.create_task(sender.run(asyncio.Event()))

    async def some_sent() -> bool:
        return any(r["status"] == "sent" for r in (await mailer.rows(ids)).values())

    await mailer.eventually(some_sent, every=0.01)
    task.cancel()  # what the runtime does to a task that will not stop by itself
    with pytest.raises(asyncio.CancelledError):
        await task

    rows = await mailer.rows(ids)
    sent = {i for i, r in rows.items() if r["status"] == "sent"}
    assert 0 < len(sent) < 300
    # Whatever reached the server is recorded as sent; nothing else reached it.
    assert mailer.delivered(ids) == dict.fromkeys(sent, 1)
    assert len(await mailer.events(ids)) == len(sent)

    rest = mailer.sender()
    while await rest.send_due():
        pass
    await rest.close()
    assert mailer.delivered(ids) == dict.fromkeys(ids, 1)


async def test_the_one_window_accepted_then_killed_before_the_commit_sends_again(
    mailer: Mailer, monkeypatch: pytest.MonkeyPatch
) -> None:
    [to] = unique()
    intent = mailer.reopened(to)
    await mailer.record([intent])
    sender = mailer.sender()

    async def killed(*_: Any) -> None:
        raise SystemExit("killed between the server's 250 and the commit")

    monkeypatch.setattr(sender, "_record", killed)
    with pytest.raises(SystemExit):
        await sender.send_due()
    await sender.close()
    row = (await mailer.rows([intent.id]))[intent.id]
    assert (row["status"], row["attempts"]) == ("pending", 0)  # rolled back: as if never sent
    assert mailer.delivered([intent.id]) == {intent.id: 1}

    restarted = mailer.sender()
    assert await restarted.send_due() == 1
    await restarted.close()
    # Sent twice: the documented window. Both copies carry the same Message-ID.
    assert mailer.delivered([intent.id]) == {intent.id: 2}
    copies = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in mailer.infra.mail_dir.glob("*.eml")
    ]
    ours = [m for m in copies if m["X-CSM-Notification"] == intent.id]
    assert {m["Message-ID"] for m in ours} == {f"<{intent.id}@csm.local>"}
    assert [e["type"] for e in await mailer.events([intent.id])] == [
        "notification.NotificationSent"
    ]
