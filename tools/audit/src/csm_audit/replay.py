"""`csm-audit replay BUNDLE --out DIR`: replay an audit bundle offline and render every report.

A fresh embedded PostgreSQL (csm_infra's) is started in a temporary directory, reporting's
migrations run there, the bundle's three stores are merged into reporting's arrival order and
journalled as its consumer would, every projection is rebuilt by reporting's own code, and
every report is rendered as at the moment asked for (`--moment`, latest by default) to
`DIR/<moment>/<report>-<parameters>.json` and `.csv`, with `DIR/index.json` listing them.

`--compare-with URL --token T` then asks a live reporting service for the same reports and
writes every difference (report, parameters, path, replay value, live value) to
`DIR/differences.json`; the exit status is 1 if there is any.

Wiring: `replay_command(argv)` takes the arguments after `replay`; the CLI calls it as
`return replay_command(argv[1:])` when `argv[0] == "replay"` (or as an argparse sub-parser's
handler: `add_replay_arguments(subparser)` then `run_replay(namespace)`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import orjson

from csm_kernel.http import json_bytes
from reporting.application.replaying import (
    MOMENTS,
    Difference,
    Journalled,
    Rendered,
    arrival_order,
)
from reporting.bootstrap import NotFresh, replaying

from .replay_bundle import Bundle, BundleInvalid, open_bundle


class HttpReports:
    """A live reporting service's reports over HTTP (`application.replaying.LiveReports`)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def fetch(
        self, report: str, parameters: Mapping[str, str]
    ) -> tuple[int, dict[str, Any] | None]:
        """The status and, for a 200, the JSON body of `GET /reports/{report}`."""
        response = await self.client.get(f"/reports/{report}", params=dict(parameters))
        if response.status_code != 200:
            return response.status_code, None
        body: dict[str, Any] = response.json()
        return 200, body


def plain_json(value: Any) -> Any:
    """`value` as the service's JSON encoder writes it, read back (Decimals as numbers, times
    as ISO text), so the replay's bodies compare with the live service's as received."""
    return orjson.loads(json_bytes(value))


@asynccontextmanager
async def embedded_database() -> AsyncIterator[str]:
    """A fresh embedded PostgreSQL in a temporary directory, with an empty `reporting`
    database; its URL. The server stops and its files go when the block ends."""
    from csm_infra.ports import free_port
    from csm_infra.postgres import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="csm-replay-") as tmp:
        server = EmbeddedPostgres(Path(tmp) / "postgres", free_port())
        await asyncio.to_thread(server.start)
        try:
            await asyncio.to_thread(server.create_databases, ["reporting"])
            yield f"postgresql://postgres@127.0.0.1:{server.port}/reporting"
        finally:
            await asyncio.to_thread(server.stop)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _write(out: Path, moment: str, rendered: Rendered) -> dict[str, Any]:
    """Write one rendered report's files; its entry in the index."""
    folder = out / moment
    folder.mkdir(parents=True, exist_ok=True)
    entry: dict[str, Any] = {
        "report": rendered.report,
        "parameters": rendered.parameters,
        "status": rendered.status,
    }
    if rendered.body is None:
        entry["problem"] = rendered.problem
        return entry
    (folder / f"{rendered.stem}.json").write_bytes(json_bytes(rendered.body))
    # The report's CSV download as the service gives it: a ZIP of one CSV per table + README.
    (folder / f"{rendered.stem}.zip").write_bytes(rendered.csv or b"")
    entry["files"] = [f"{moment}/{rendered.stem}.json", f"{moment}/{rendered.stem}.zip"]
    return entry


async def replay(
    bundle_path: Path,
    out: Path,
    *,
    database_url: str | None = None,
    moment: str = "latest",
    reports: Sequence[str] | None = None,
    national_only: bool = False,
    compare_with: str | None = None,
    token: str | None = None,
    check_signature: bool = True,
) -> dict[str, Any]:
    """Replay the bundle into a fresh database (embedded unless `database_url` names an empty
    one), render the reports into `out`, compare them with a live service if asked; a summary
    (with `differences`, the number found)."""
    bundle = open_bundle(bundle_path, check_signature=check_signature)
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    if database_url is None:
        async with embedded_database() as url:
            return await _replay_into(
                url, bundle, out, moment, reports, national_only, compare_with, token
            )
    return await _replay_into(
        database_url, bundle, out, moment, reports, national_only, compare_with, token
    )


async def _replay_into(
    url: str,
    bundle: Bundle,
    out: Path,
    moment: str,
    reports: Sequence[str] | None,
    national_only: bool,
    compare_with: str | None,
    token: str | None,
) -> dict[str, Any]:
    timings: dict[str, float] = {}
    async with replaying(url) as app:
        started = time.monotonic()

        def journalled(done: Journalled) -> None:
            if done.read % 100_000 < app.batch:
                _say(f"journalled {done.journalled:,} of {done.read:,} read")

        done = await app.journal_events(arrival_order(bundle.all_events()), journalled)
        timings["journal_s"] = round(time.monotonic() - started, 2)
        timings["journal_reading_s"] = round(done.reading_seconds, 2)
        timings["journal_inserting_s"] = round(done.inserting_seconds, 2)
        _say(f"journalled {done.journalled:,} events ({len(done.refused)} refused)")
        started = time.monotonic()
        await app.rebuild()
        timings["rebuild_s"] = round(time.monotonic() - started, 2)
        _say(f"projections rebuilt in {timings['rebuild_s']} s")
        started = time.monotonic()
        rendered: list[Rendered] = []
        index = []
        async for r in app.render(moment, reports=reports, national_only=national_only):
            index.append(_write(out, moment, r))
            rendered.append(r)
        timings["render_s"] = round(time.monotonic() - started, 2)
        _say(f"rendered {len(rendered):,} reports in {timings['render_s']} s")
        summary: dict[str, Any] = {
            "bundle": str(bundle.root),
            "signed_by": bundle.signed_by,
            "moment": moment,
            "events_read": done.read,
            "events_journalled": done.journalled,
            "refused": [asdict(r) for r in done.refused],
            "timings": timings,
            "reports": index,
        }
        if compare_with is not None:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with httpx.AsyncClient(
                base_url=compare_with, headers=headers, timeout=300
            ) as client:
                found = await app.compare(rendered, HttpReports(client), plain_json)
            summary["differences"] = len(found)
            (out / "differences.json").write_bytes(json_bytes([_difference(d) for d in found]))
            for d in found:
                _say(
                    f"DIFFERENT {d.report} {d.parameters} {d.path}: replay {d.replayed!r},"
                    f" live {d.live!r}"
                )
        (out / "index.json").write_bytes(json_bytes(summary))
        return summary


def _difference(d: Difference) -> dict[str, Any]:
    return {
        "report": d.report,
        "parameters": d.parameters,
        "path": d.path,
        "replay": d.replayed,
        "live": d.live,
    }


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    """The `replay` subcommand's arguments."""
    parser.add_argument("bundle", type=Path, help="the bundle's directory")
    parser.add_argument("--out", type=Path, required=True, help="where the reports go")
    parser.add_argument("--moment", choices=MOMENTS, default="latest")
    parser.add_argument("--report", action="append", dest="reports", help="only this report")
    parser.add_argument(
        "--national-only",
        action="store_true",
        help="leave out area and organisation reports (thousands at national scale)",
    )
    parser.add_argument("--compare-with", metavar="URL", help="a live reporting service")
    parser.add_argument("--token", help="a bearer token for --compare-with")
    parser.add_argument(
        "--database-url", help="an empty PostgreSQL database instead of an embedded one"
    )


def run_replay(args: argparse.Namespace) -> int:
    """Run `replay` with parsed arguments; the exit status."""
    if args.token and not args.compare_with:
        _say("--token goes with --compare-with")
        return 2
    try:
        summary = asyncio.run(
            replay(
                args.bundle,
                args.out,
                database_url=args.database_url,
                moment=args.moment,
                reports=args.reports,
                national_only=args.national_only,
                compare_with=args.compare_with,
                token=args.token,
            )
        )
    except (BundleInvalid, NotFresh) as exc:
        _say(f"not replayed: {exc}")
        return 2
    print(
        json.dumps(
            {k: v for k, v in summary.items() if k != "reports"}
            | {"reports": len(summary["reports"])},
            default=str,
        )
    )
    return 1 if summary.get("differences") else 0


def register(sub: Any) -> None:
    """Add `csm-audit replay` to the command line (see `csm_audit.cli`)."""
    parser = sub.add_parser(
        "replay",
        help="replay a bundle through reporting's projections; compare with a live service",
        description=(
            "Replay an audit bundle into a fresh database through reporting's own projections "
            "and write every report and the data-quality evaluation as at a moment; with "
            "--compare-with, list every difference from what a live reporting service answers."
        ),
    )
    add_replay_arguments(parser)
    parser.set_defaults(run=run_replay)


def replay_command(argv: Sequence[str]) -> int:
    """`csm-audit replay ...` (the arguments after `replay`); the exit status."""
    parser = argparse.ArgumentParser(
        prog="csm-audit replay",
        description="Replay an audit bundle into a fresh database and render every report.",
    )
    add_replay_arguments(parser)
    return run_replay(parser.parse_args(list(argv)))


if __name__ == "__main__":
    sys.exit(replay_command(sys.argv[1:]))
