"""Hostile bytes at the portal: NUL and text that is not UTF-8 in a path, a query or a form,
and a body over the cap, get a 4xx page naming what was refused (never a 500, never passed on
to a service), with the portal's security headers."""

from __future__ import annotations

import pytest
from portal_fakes import ADMIN_TOKEN, LEAD_TOKEN, browser, portal


def _refused(r, status: int = 422) -> str:
    assert r.status_code == status, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["x-frame-options"] == "DENY"
    assert "This cannot be done" in r.text
    return str(r.text)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/questionnaires/%00", "path.questionnaire_id"),
        ("/questionnaires/%ff%fe", "path.questionnaire_id"),
        ("/sign-in?next=%ff%fe%00", "query.next"),
        ("/national/organisations?region=a%00", "query.region"),
    ],
)
async def test_urls_with_nul_or_bad_utf8_get_a_page_naming_the_field(path: str, field: str) -> None:
    app, _ = portal()
    async with browser(app, LEAD_TOKEN) as client:
        assert field in _refused(await client.get(path))


async def test_forms_with_nul_or_bad_utf8_are_refused_before_any_service() -> None:
    app, _ = portal()
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.post("/sign-in", data={"email": "ann@pct.nhs.uk\x00", "password": "x"})
        assert "email" in _refused(r)
        r = await client.post(
            "/national/organisations/new",
            content=b"code=5A4&name=Any%fftown&kind=pct",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert "name" in _refused(r)
        r = await client.post(
            "/questionnaires/q1", files={"client_groups_other": (None, b"a\x00b")}
        )
        assert "client_groups_other" in _refused(r)


async def test_a_body_over_the_cap_is_413() -> None:
    app, _ = portal()
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.post(
            "/national/organisations/new",
            content=b"name=" + b"x" * (5 * 1024 * 1024),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert "too large" in _refused(r, 413)
