"""The notification sender: 10,000 deadline reminders through the embedded SMTP sink.

Run: `.venv/bin/python bench/notification_reminders.py` (defaults: 10,000 reminders, batches of
100, four SMTP sessions: the sender's defaults). Starts its own embedded PostgreSQL, broker and
SMTP sink (aiosmtpd, its own process, writing each message to a file as `make run`'s does) on
free ports in a temporary directory, then:

1. records `--count` `deadline-reminder` intents (one per organisation's lead, the context the
   reminder schedule stores) in one transaction, as the reminder run does;
2. runs the real `Sender` (`Sender.run`) until every one is `sent`: rendering each email
   (Jinja2, plain text and HTML), handing it to the sink over the open SMTP connections, and
   recording each batch's outcome with a `NotificationSent` event per email;
3. counts what the sink kept, by each message's `X-CSM-Notification` header: unique, duplicated,
   missing; and the `NotificationSent` events stored.

Emails/s is measured at the server, from its first message received to its last (the sink
names each file by the time it received it), and also as the sender saw it (from the start of
`run` until every row was committed as sent, which includes the last batch's commit), with
the CPU each email cost the sender's process and the sink's (the machine has two cores,
shared with PostgreSQL).

Target (issue #6, 2-core machine): >= 300 emails/s, none duplicated or missing.
"""

from __future__ import annotations

import argparse
import asyncio
import email.parser
import os
import resource
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import asyncpg

from csm_infra.settings import InfraSettings
from csm_kernel.clock import SystemClock
from csm_kernel.database import migrate
from csm_kernel.links import LinkTokens
from csm_kernel.settings import ServiceSettings
from csm_kernel.store.postgres import PostgresEventStore
from harness import private_stack, report
from notification.application.intents import record
from notification.application.sender import Sender
from notification.domain.notification import Intent, Kind

CYCLE = "2009-10"
CLOSE = datetime(2010, 2, 28, 23, 59, tzinfo=UTC)


def reminder(n: int, run: str) -> Intent:
    """The reminder a lead gets 7 days before the close, as the schedule records it."""
    org = f"R{n:05d}"
    return Intent(
        kind=Kind.DEADLINE_REMINDER,
        organisation_id=org,
        recipient=f"lead.{org.lower()}@anytown{n % 150}.nhs.uk",
        recipient_name=f"Lead {org}",
        cause=f"reminder/{CYCLE}/{org}/7/{CLOSE.isoformat()}/{run}",
        caused_by_type="reminder",
        context={
            "organisation_name": f"Organisation {org}",
            "cycle": CYCLE,
            "deadline": "28 February 2010, 23:59",
            "days_left": 7,
            "extended": n % 10 == 0,
            "name": f"Lead {org}",
            "link": f"http://127.0.0.1:8000/returns/{CYCLE}",
        },
    )


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) used so far by a process (this one when `pid` is None)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_at_server(mail_dir: Path) -> tuple[Counter[str], list[int]]:
    """How many times each notification arrived, and when each message did (ns)."""
    parser = email.parser.BytesHeaderParser()
    arrived: Counter[str] = Counter()
    stamps = []
    for path in mail_dir.glob("*.eml"):
        stamps.append(int(path.name.split("-", 1)[0]))
        with path.open("rb") as f:
            nid = parser.parse(f)["X-CSM-Notification"]
        if nid is not None:
            arrived[str(nid)] += 1
    return arrived, sorted(stamps)


async def bench(infra: InfraSettings, count: int, batch: int, connections: int) -> None:
    pool = await asyncpg.create_pool(infra.database_url("notification"), min_size=2, max_size=8)
    assert pool is not None
    try:
        await migrate(
            pool, "notification", resources.files("notification.adapters").joinpath("sql")
        )
        clock = SystemClock()
        intents = [reminder(n, uuid.uuid4().hex[:8]) for n in range(count)]
        started = time.perf_counter()
        async with pool.acquire() as conn, conn.transaction():
            # Due a moment ago, so the sender finds them all at its first look.
            recorded = await record(conn, intents, clock.now() - timedelta(seconds=1))
        record_seconds = time.perf_counter() - started
        assert recorded == count

        settings = ServiceSettings(
            smtp_host="127.0.0.1",
            smtp_port=infra.smtp_port,
            mail_from="Children's Services Mapping <csm@csm.example>",
        )
        sender = Sender(
            pool,
            PostgresEventStore(pool),
            settings,
            clock,
            LinkTokens(b"b" * 32),
            batch=batch,
            connections=connections,
        )
        stop = asyncio.Event()
        sink_pid = int((infra.run_dir / "smtp.pid").read_text())
        cpu_before = (cpu_seconds(), cpu_seconds(sink_pid))
        started = time.perf_counter()
        task = asyncio.create_task(sender.run(stop))
        while await pool.fetchval("SELECT count(*) FROM notifications WHERE status <> 'sent'"):
            if task.done():
                task.result()
                raise RuntimeError("the sender stopped")
            await asyncio.sleep(0.05)
        send_seconds = time.perf_counter() - started
        sender_cpu = cpu_seconds() - cpu_before[0]
        sink_cpu = cpu_seconds(sink_pid) - cpu_before[1]
        stop.set()
        await task

        arrived, stamps = count_at_server(infra.mail_dir)
        ids = {i.id for i in intents}
        events = await pool.fetchval(
            "SELECT count(*) FROM events WHERE type = 'notification.NotificationSent'"
        )
        failed = await pool.fetchval("SELECT count(*) FROM notifications WHERE status = 'failed'")
        server_seconds = (stamps[-1] - stamps[0]) / 1e9 if len(stamps) > 1 else 0.0
        report(
            benchmark="notification_reminders",
            reminders=count,
            batch=batch,
            smtp_connections=connections,
            smtp_sessions_opened=sum(c.connects for c in sender.connections),
            record_intents_seconds=round(record_seconds, 3),
            emails_per_second_at_server=round((len(stamps) - 1) / server_seconds, 1)
            if server_seconds
            else None,
            emails_per_second_until_all_committed=round(count / send_seconds, 1),
            seconds_first_to_last_at_server=round(server_seconds, 2),
            messages_at_server=len(stamps),
            unique_notifications_at_server=len(arrived),
            duplicated=sum(1 for n in arrived.values() if n > 1),
            missing=len(ids - set(arrived)),
            unexpected=len(set(arrived) - ids),
            sender_cpu_ms_per_email=round(sender_cpu * 1000 / count, 3),
            smtp_sink_cpu_ms_per_email=round(sink_cpu * 1000 / count, 3),
            notification_sent_events=events,
            failed=failed,
            target_emails_per_second=300,
        )
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--connections", type=int, default=4, help="SMTP sessions at once")
    args = parser.parse_args()
    # The stack starts outside the event loop (it runs its own to create the databases).
    with private_stack() as infra:
        asyncio.run(bench(infra, args.count, args.batch, args.connections))


if __name__ == "__main__":
    main()
