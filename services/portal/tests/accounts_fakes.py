"""A fake of registration's national accounts endpoints (`GET /accounts`, `POST /accounts`,
`POST /accounts/{id}/disable`), refusing what the real one refuses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from portal_fakes import refusal, roles_of


def add_to(app: FastAPI) -> None:
    add_register(app)
    add_import(app)
    app.state.accounts = [
        {
            "account_id": "a0",
            "email": "ada@dfe.example",
            "name": "Ada Admin",
            "roles": ["national-admin"],
            "status": "active",
        },
        {
            "account_id": "a4",
            "email": "aud@audit.example",
            "name": "Alan Auditor",
            "roles": ["auditor"],
            "status": "active",
        },
    ]

    def admin(request: Request) -> bool:
        return "national-admin" in roles_of(request)

    @app.get("/accounts")
    async def listed(request: Request) -> Any:
        if not admin(request):
            return refusal(403, "national admins only")
        return app.state.accounts

    @app.post("/accounts")
    async def create(request: Request) -> Any:
        body = await request.json()
        app.state.calls.append(("POST", "/accounts", body))
        if any(a["email"] == body["email"] for a in app.state.accounts):
            return refusal(
                409,
                "an account with this email exists",
                {"field": "email", "reason": "an account with this email address already exists"},
            )
        new = {
            **body,
            "account_id": f"n{len(app.state.accounts)}",
            "roles": [body["role"]],
            "status": "pending",
        }
        app.state.accounts.append(new)
        return {"account_id": new["account_id"], "email": new["email"], "name": new["name"]}

    @app.post("/accounts/{account_id}/disable")
    async def disable(account_id: str, request: Request) -> Any:
        body = await request.json()
        app.state.calls.append(("POST", f"/accounts/{account_id}/disable", body))
        if account_id == "a0":
            return refusal(
                422, "own", {"field": "account_id", "reason": "you cannot disable your own account"}
            )
        for a in app.state.accounts:
            if a["account_id"] == account_id:
                a["status"] = "disabled"
                return None
        return refusal(404, "no such account")


def add_register(app: FastAPI) -> None:
    """`GET /organisations`: 120 organisations by code, `limit` a page after `after` (or
    before `before`)."""
    register = [
        {
            "code": f"R{i:03d}",
            "name": f"Register {i}",
            "kind": "pct" if i % 2 else "local-authority",
            "region": "london" if i % 3 == 0 else "north-west",
        }
        for i in range(120)
    ]

    @app.get("/organisations")
    async def listed(request: Request) -> Any:
        app.state.calls.append(("GET", str(request.url), None))
        got = request.query_params
        chosen = [
            o
            for o in register
            if all(not got.get(k) or o[k] == got.get(k) for k in ("region", "kind"))
        ]
        limit = int(got.get("limit", 100))
        if got.get("before"):
            page = [o for o in chosen if o["code"] < got["before"]][-limit:]
        else:
            page = [o for o in chosen if o["code"] > got.get("after", "")][:limit]
        codes = [o["code"] for o in chosen]
        return {
            "items": page,
            "total": len(chosen),
            "next_after": page[-1]["code"] if page and page[-1]["code"] < codes[-1] else None,
            "previous_before": page[0]["code"] if page and page[0]["code"] > codes[0] else None,
        }


def add_import(app: FastAPI) -> None:
    """`POST /organisations/import`: refuses a row whose kind is not one, naming its line."""
    import csv
    import io

    app.state.imported = []

    @app.post("/organisations/import")
    async def imported(request: Request) -> Any:
        body = (await request.body()).decode()
        dry_run = request.query_params.get("dry_run") == "true"
        app.state.calls.append(("POST", f"/organisations/import?dry_run={dry_run}", body))
        rows = list(csv.DictReader(io.StringIO(body)))
        bad = [
            {"line": n, "field": "kind", "reason": f"{r['kind']!r} is not a kind of organisation"}
            for n, r in enumerate(rows, start=2)
            if r["kind"] not in ("pct", "local-authority")
        ]
        if bad:
            return refusal(422, f"{len(bad)} rows have problems", *bad)
        if not dry_run:
            app.state.imported += [r["code"] for r in rows]
        codes = [r["code"] for r in rows]
        return {
            "rows": len(rows),
            "registered": codes,
            "changed": [],
            "unchanged": [],
            "events": len(rows),
            "dry_run": dry_run,
        }

    @app.post("/organisations/leads")
    async def leads(request: Request) -> Any:
        body = await request.json()
        app.state.calls.append(("POST", "/organisations/leads", body))
        outcomes = [
            {"code": w["code"], "status": 422, "reason": "not an address we send to"}
            if w["email"].endswith("@refused.example")
            else {"code": w["code"], "account_id": "x"}
            for w in body["leads"]
        ]
        refused = sum(1 for o in outcomes if "status" in o)
        return {"nominated": len(outcomes) - refused, "refused": refused, "outcomes": outcomes}

    @app.put("/organisations/{code}/lead")
    async def lead(code: str, request: Request) -> Any:
        body = await request.json()
        app.state.calls.append(("PUT", f"/organisations/{code}/lead", body))
        if body["email"].endswith("@refused.example"):
            return refusal(
                422, "refused", {"field": "email", "reason": "not an address we send to"}
            )
        return JSONResponse({"account_id": "x", "email": body["email"], "name": body["name"]}, 201)
