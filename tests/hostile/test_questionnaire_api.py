"""Questionnaire's API under hostile input (see `hostile_api`), as each identity: no 5xx."""

import pytest

from hostile_stack import attack, identity_names

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("who", identity_names())
async def test_no_server_error(questionnaire_target, who: str) -> None:
    await attack(questionnaire_target, who)


async def test_no_server_error_as_a_delegate(questionnaire_target) -> None:
    await attack(questionnaire_target, "delegate")
