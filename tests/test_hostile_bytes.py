"""Every service and the portal refuse NUL and text that is not UTF-8, in a path, a query and a
body, with a 4xx naming the field (issue #24): a quick check across the whole platform.

Each app is built as it runs (`build_app`, so with the kernel's edge guard) but not started: a
refused request never reaches a route, and one that did would meet a service without its
database and answer 500, failing the test. The real, started services are probed in their own
tests (`services/*/tests/test_hostile_input.py`)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from csm_kernel.settings import ServiceSettings

NUL_JSON = "a\u0000b"


def _apps(auth_keys: Any) -> dict[str, FastAPI]:
    from notification.bootstrap import build_app as notification
    from portal.bootstrap import build_app as portal
    from portal.settings import PortalSettings
    from questionnaire.bootstrap import build_app as questionnaire
    from registration.bootstrap import build_app as registration
    from reporting.bootstrap import build_app as reporting

    settings = ServiceSettings(
        database_url="postgresql://nobody@127.0.0.1:1/none",
        auth_public_key_file=auth_keys.public_file,
        auth_private_key_file=auth_keys.private_file,
    )
    return {
        "registration": registration(settings),
        "questionnaire": questionnaire(settings),
        "reporting": reporting(settings),
        "notification": notification(settings),
        "portal": portal(PortalSettings(mailbox_auto=False, auth_public_key_file=None)),
    }


#: (service, method, url, request keywords, the field the refusal names)
PROBES: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("registration", "GET", "/organisations/%00", {}, "path.code"),
    ("registration", "GET", "/organisations?area=%ff%fe%00", {}, "query.area"),
    (
        "registration",
        "POST",
        "/organisations",
        {"json": {"code": "5A4", "name": NUL_JSON, "kind": "pct", "region": "london"}},
        "name",
    ),
    (
        "registration",
        "POST",
        "/directory/services",
        {"json": {"cycle": "2009-10", "name": "S", "description": NUL_JSON}},
        "description",
    ),
    (
        "registration",
        "POST",
        "/organisations/import",
        {"content": b"code,name\n5A4,Any\xfftown\n", "headers": {"content-type": "text/csv"}},
        "body",
    ),
    ("questionnaire", "GET", "/questionnaires/%00", {}, "path.questionnaire_id"),
    ("questionnaire", "GET", "/questionnaires?q=%ff%fe%00", {}, "query.q"),
    (
        "questionnaire",
        "PATCH",
        "/questionnaires/q1/answers",
        {"json": {"version": 1, "answers": {"caseload_note": NUL_JSON}}},
        "answers.caseload_note",
    ),
    (
        "questionnaire",
        "POST",
        "/questionnaires/q1/delegations",
        {"json": {"email": "m@example.org", "message": NUL_JSON}},
        "message",
    ),
    ("reporting", "GET", "/reports/%00", {}, "path.name"),
    ("reporting", "GET", "/reports/cycle-progress?cycle=%ff%fe%00", {}, "query.cycle"),
    ("reporting", "POST", "/projections/%ff/rebuild", {}, "path.name"),
    (
        "notification",
        "POST",
        "/bulletins",
        {"json": {"subject": NUL_JSON, "body": "Hello"}},
        "subject",
    ),
    ("notification", "GET", "/notifications?kind=%00", {}, "query.kind"),
    ("notification", "GET", "/templates/%ff%fe/preview", {}, "path.kind"),
    ("portal", "GET", "/questionnaires/%00", {}, "path.questionnaire_id"),
    ("portal", "GET", "/sign-in?next=%ff%fe%00", {}, "query.next"),
    ("portal", "POST", "/sign-in", {"data": {"email": "a\x00@x.org", "password": "p"}}, "email"),
]


@pytest.fixture(scope="module")
def apps(auth_keys: Any) -> dict[str, FastAPI]:
    return _apps(auth_keys)


@pytest.mark.parametrize(
    ("service", "method", "url", "kwargs", "field"),
    PROBES,
    ids=[f"{p[0]} {p[1]} {p[2]}" for p in PROBES],
)
async def test_hostile_bytes_are_refused_naming_the_field(
    apps: dict[str, FastAPI],
    auth_keys: Any,
    service: str,
    method: str,
    url: str,
    kwargs: dict[str, Any],
    field: str,
) -> None:
    transport = httpx.ASGITransport(app=apps[service], raise_app_exceptions=False)
    kwargs = dict(kwargs)
    headers = {**auth_keys.headers("national-admin"), **kwargs.pop("headers", {})}
    async with httpx.AsyncClient(transport=transport, base_url="https://portal.test") as client:
        if service == "portal":
            # As a browser posts the portal's own form: its origin, and the form token of the
            # page it came from (a post without one is refused before anything else).
            from portal.entrypoints.web import csrf

            secret = "s" * 43
            client.cookies.set(csrf.cookie_name(secure=True), secret, domain="portal.test")
            headers["origin"] = "https://portal.test"
            headers[csrf.HEADER] = csrf.token_for(secret, csrf.session_id_of(None))
        r = await client.request(method, url, headers=headers, **kwargs)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    if service == "portal":
        assert r.headers["content-type"].startswith("text/html") and field in r.text
    else:
        assert field in [d["field"] for d in r.json()["details"]], r.text
