"""The portal's pages and forms under hostile input (see `hostile_portal`), over the four real
services, signed in as each role and as nobody: no 5xx."""

import pytest

from hostile_stack import attack, identity_names

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("who", identity_names())
async def test_no_server_error(portal_target, who: str) -> None:
    await attack(portal_target, who)
