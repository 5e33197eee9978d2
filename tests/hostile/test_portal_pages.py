"""The portal's pages and forms under hostile input (see `hostile_portal`), over the four real
services, signed in as each role and as nobody: no 5xx."""

import pytest

from hostile_stack import attack, identity_names

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("who", identity_names())
async def test_no_server_error(portal_target, who: str) -> None:
    await attack(portal_target, who)


async def test_the_portal_identities_get_past_the_form_token_check(portal_target) -> None:
    # Otherwise every post would stop at the CSRF check (403) and no form handler be probed.
    admin = next(i for i in portal_target.identities if i.name == "national-admin")
    cookie = "; ".join(f"{k}={v}" for k, v in admin.cookies.items())
    r = await portal_target.client.post(
        "/national/organisations/new",
        data={"code": "", "name": ""},
        headers={**admin.headers, "cookie": cookie},
    )
    assert r.status_code != 403, r.text[:300]
    assert "could not be sent" not in r.text
