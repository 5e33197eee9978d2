"""A fake of reporting's `GET /cycles/{cycle}/participation`: 60 organisations, filtered,
counted, sorted and paged as the real service does (its own tests check the real one)."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from portal_fakes import refusal, roles_of

REGIONS = ("london", "north-west", "south-west")
KINDS = ("pct", "local-authority", "third-sector")
STAGES = ("not-started", "in-progress", "submitted", "signed-off")


def organisations(n: int = 60) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        stage = STAGES[i % 4]
        rows.append(
            {
                "organisation_id": f"9Z{i:02d}",
                "code": f"9Z{i:02d}",
                "name": "Anytown PCT" if i == 0 else f"Organisation {i:02d}",
                "kind": KINDS[i % 3],
                "region": REGIONS[i % 3],
                "status": stage,
                "issued": 4,
                "submitted": {"not-started": 0, "in-progress": 1}.get(stage, 4),
                "percent_complete": None,
                "signed_off_at": "2010-02-01T12:00:00+00:00" if stage == "signed-off" else None,
                "deadline": "2010-03-14T17:00:00+00:00"
                if i % 10 == 1
                else "2010-02-28T17:00:00+00:00",
                "extension_until": "2010-03-14T17:00:00+00:00" if i % 10 == 1 else None,
                "reopenings": 1 if i % 15 == 3 else 0,
                "last_activity": None
                if stage == "not-started"
                else f"2010-01-{1 + i % 28:02d}T09:30:00+00:00",
                "overdue": stage != "signed-off" and i % 2 == 0,
            }
        )
    return rows


def _matches(row: dict[str, Any], key: str, value: str | None) -> bool:
    if not value:
        return True
    if key == "status":
        flags = {
            "overdue": row["overdue"],
            "extended": row["extension_until"] is not None,
            "reopened": row["reopenings"] > 0,
        }
        return flags.get(value, row["status"] == value)
    if key == "q":
        return value.lower() in f"{row['code']} {row['name']}".lower()
    return bool(row[key] == value)


def add_to(app: FastAPI) -> None:
    rows = organisations()

    @app.get("/cycles/{cycle}/participation")
    async def participation(cycle: str, request: Request) -> Any:
        app.state.calls.append(("GET", str(request.url), None))
        if not {"national-admin", "auditor", "regulator"} & set(roles_of(request)):
            return refusal(403, "your role does not allow this")
        if cycle != "2009-10":
            return refusal(404, f"no cycle {cycle}")
        got = request.query_params
        filters = {k: got.get(k) for k in ("region", "kind", "status", "q")}

        def kept(*but: str) -> list[dict[str, Any]]:
            return [
                r
                for r in rows
                if all(_matches(r, k, v) for k, v in filters.items() if k not in but)
            ]

        chosen = kept()
        sort = {"last-activity": "last_activity"}.get(got.get("sort", "name"), got.get("sort"))
        chosen.sort(key=lambda r: (r.get(sort or "name") or "", r["code"]))
        if got.get("order") == "desc":
            chosen.reverse()
        if got.get("format") == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(["Code", "Name"])
            writer.writerows([r["code"], r["name"]] for r in chosen)
            return Response(
                out.getvalue(),
                media_type="text/csv; charset=utf-8",
                headers={"content-disposition": 'attachment; filename="participation.csv"'},
            )
        page, per_page = int(got.get("page", 1)), int(got.get("per_page", 25))
        counts = {
            "status": {
                s: sum(1 for r in kept("status") if _matches(r, "status", s))
                for s in (*STAGES, "overdue", "extended", "reopened")
            },
            "region": {g: sum(1 for r in kept("region") if r["region"] == g) for g in REGIONS},
            "kind": {k: sum(1 for r in kept("kind") if r["kind"] == k) for k in KINDS},
        }
        return {
            "cycle": cycle,
            "phase": "data-entry",
            "data_entry_closes": "2010-02-28T17:00:00+00:00",
            "as_at": "2010-02-01T12:00:00+00:00",
            "total": len(chosen),
            "page": page,
            "per_page": per_page,
            "pages": max(1, -(-len(chosen) // per_page)),
            "rows": chosen[(page - 1) * per_page : page * per_page],
            "counts": counts,
            "summary": {"organisations": 60, "signed_off": 15, "issued": 240, "submitted": 135},
        }


def add_delivery_log(app: FastAPI) -> None:
    """`GET /notifications`: 120 emails, newest first, 50 a page after the `before` cursor;
    and `POST /bulletins/preview`, refusing the organisation ZZZ as publishing does."""

    @app.post("/bulletins/preview")
    async def preview(request: Request) -> Any:
        body = await request.json()
        app.state.calls.append(("POST", "/bulletins/preview", body))
        wanted = (body.get("filter") or {}).get("organisation_ids", [])
        if "ZZZ" in wanted:
            return refusal(
                422,
                "invalid",
                {"field": "filter.organisation_ids", "reason": "unknown organisation(s) ZZZ"},
            )
        # The fake's "now" is 2010-02-01 (its participation's as_at).
        if body.get("send_at") and body["send_at"] <= "2010-02-01T12:00:00+00:00":
            return refusal(422, "invalid", {"field": "send_at", "reason": "must be in the future"})
        return {
            "recipients": 3,
            "send_at": body.get("send_at"),
            "filter": {
                "regions": [],
                "kinds": [],
                "organisation_ids": [],
                **(body.get("filter") or {}),
            },
            "to": "lead-5a4@example.org",
            "subject": body["subject"],
            "text": f"Dear Lead 5A4,\n\n{body['body']}\n\nThe national mapping team",
            "html": "<p>unused</p>",
        }

    emails = [
        {
            "id": f"n{i:03d}",
            "kind": "bulletin" if i % 2 else "deadline-reminder",
            "recipient": f"lead{i % 7}@example.org",
            "organisation_id": f"9Z{i % 60:02d}",
            "subject": f"Email {i}",
            "status": "failed" if i % 10 == 0 else "sent",
            "attempts": 1,
            "created_at": f"2010-01-{1 + i % 28:02d}T09:30:00+00:00",
        }
        for i in range(120, 0, -1)
    ]

    @app.get("/notifications")
    async def log(request: Request) -> Any:
        app.state.calls.append(("GET", str(request.url), None))
        got = request.query_params
        chosen = [
            e
            for e in emails
            if all(not got.get(k) or e[k] == got.get(k) for k in ("status", "kind", "recipient"))
        ]
        limit = int(got.get("limit", 100))
        if got.get("after"):
            page = [e for e in chosen if e["id"] > got["after"]][-limit:]
        else:
            page = [e for e in chosen if not got.get("before") or e["id"] < got["before"]][:limit]
        ids = [e["id"] for e in chosen]
        return {
            "items": page,
            "next": page[-1]["id"] if page and page[-1]["id"] != ids[-1] else None,
            "previous": page[0]["id"] if page and page[0]["id"] != ids[0] else None,
        }
