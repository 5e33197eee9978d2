"""Notification's API under hostile input (see `hostile_api`), as each identity: no 5xx."""

import pytest

from hostile_stack import attack, identity_names

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("who", identity_names())
async def test_no_server_error(notification_target, who: str) -> None:
    await attack(notification_target, who)
