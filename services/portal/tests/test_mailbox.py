"""The embedded stack's mailbox holds set-up and delegation links: only where it is turned on
for local use, and only for a signed-in national admin; "Page not found" for anyone else."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from portal_fakes import ADMIN_TOKEN, LEAD_TOKEN, REGULATOR_TOKEN, browser, portal

from portal.settings import PortalSettings

MESSAGE = (
    "From: csm@localhost\r\nTo: ann@pct.nhs.uk\r\nSubject: Set up your account\r\n"
    "Date: Mon, 02 Nov 2009 09:00:00 +0000\r\n\r\n"
    "Set a password: http://127.0.0.1:8000/account/set-up?token=secret-link\r\n"
)


def with_mailbox(directory: Path, **settings: object) -> FastAPI:
    (directory / "0001.eml").write_text(MESSAGE)
    app, _ = portal()
    app.state.portal.settings = PortalSettings(
        auth_public_key_file=None, mailbox_dir=directory, **settings
    )
    return app


async def test_a_national_admin_reads_it_where_it_is_turned_on(tmp_path: Path) -> None:
    app = with_mailbox(tmp_path, mailbox_enabled=True)
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.get("/mailbox")
        home = await client.get("/national/organisations/new")
    assert r.status_code == 200
    assert 'href="http://127.0.0.1:8000/account/set-up?token=secret-link"' in r.text
    assert 'href="/mailbox"' in home.text  # and the navigation links to it


@pytest.mark.parametrize("who", [None, LEAD_TOKEN, REGULATOR_TOKEN])
async def test_nobody_else_finds_it(tmp_path: Path, who: str | None) -> None:
    app = with_mailbox(tmp_path, mailbox_enabled=True)
    async with browser(app, who) as client:
        r = await client.get("/mailbox")
        page = await client.get("/sandbox")
    assert r.status_code == 404
    assert "Page not found" in r.text and "secret-link" not in r.text
    assert 'href="/mailbox"' not in page.text


async def test_it_is_off_unless_turned_on(tmp_path: Path) -> None:
    assert PortalSettings().mailbox_enabled is False
    app = with_mailbox(tmp_path)  # a directory, but not turned on
    async with browser(app, ADMIN_TOKEN) as client:
        r = await client.get("/mailbox")
        home = await client.get("/national/organisations/new")
    assert r.status_code == 404 and "secret-link" not in r.text
    assert 'href="/mailbox"' not in home.text


def test_make_run_turns_it_on_for_the_portal_only(tmp_path: Path) -> None:
    from csm_infra.settings import InfraSettings

    infra = InfraSettings(var_dir=tmp_path)
    assert infra.service_env("portal")["CSM_MAILBOX_ENABLED"] == "true"
    assert "CSM_MAILBOX_ENABLED" not in infra.service_env("registration")
