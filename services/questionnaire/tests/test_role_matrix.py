"""Every questionnaire endpoint, every kind of caller: who is refused (401/403) and who gets
through. A new endpoint without a row here fails the test."""

import re

import pytest

ROLES = ("national-admin", "auditor", "regulator", "mapping-lead", "group-owner")
ADMIN = {"national-admin"}
READERS = {"national-admin", "auditor", "mapping-lead", "group-owner"}
ANSWERERS = {"mapping-lead", "group-owner"}
EVERYONE = set(ROLES)
PUBLIC = "public"  # no account needed (the sandbox, definitions, a delegate's link)

MATRIX: dict[tuple[str, str], set[str] | str] = {
    ("POST", "/cycles"): ADMIN,
    ("GET", "/cycles"): EVERYONE,
    ("GET", "/cycles/{cycle}"): EVERYONE,
    ("PUT", "/cycles/{cycle}/timetable"): ADMIN,
    ("POST", "/cycles/{cycle}/phase"): ADMIN,
    ("POST", "/cycles/{cycle}/tick"): ADMIN,
    ("GET", "/cycles/{cycle}/returns"): {"national-admin", "auditor", "regulator"},
    ("GET", "/cycles/{cycle}/returns/{organisation_id}"): READERS,
    ("POST", "/cycles/{cycle}/returns/{organisation_id}/sign-off"): {"mapping-lead"},
    ("POST", "/cycles/{cycle}/returns/{organisation_id}/extension"): ADMIN,
    ("POST", "/cycles/{cycle}/returns/{organisation_id}/reopen"): ADMIN,
    ("GET", "/questionnaires"): READERS,
    ("GET", "/questionnaires/{questionnaire_id}"): READERS,
    ("PATCH", "/questionnaires/{questionnaire_id}/answers"): ANSWERERS,
    ("POST", "/questionnaires/{questionnaire_id}/submit"): ANSWERERS,
    ("POST", "/questionnaires/{questionnaire_id}/withdraw-submission"): ANSWERERS,
    ("GET", "/questionnaires/{questionnaire_id}/history"): READERS | {"regulator"},
    ("GET", "/questionnaires/{questionnaire_id}/last-year"): ANSWERERS,
    ("POST", "/questionnaires/{questionnaire_id}/last-year"): ANSWERERS,
    ("POST", "/questionnaires/{questionnaire_id}/delegations"): ANSWERERS,
    ("GET", "/questionnaires/{questionnaire_id}/delegations"): READERS,
    ("POST", "/questionnaires/{questionnaire_id}/delegations/{delegation_id}/revoke"): ANSWERERS,
    ("POST", "/questionnaires/{questionnaire_id}/delegations/{delegation_id}/accept"): ANSWERERS,
    ("POST", "/questionnaires/{questionnaire_id}/delegations/{delegation_id}/send-back"): ANSWERERS,
    ("GET", "/delegate/questionnaire"): PUBLIC,
    ("GET", "/delegate/questionnaires/{questionnaire_id}"): PUBLIC,
    ("PATCH", "/delegate/questionnaires/{questionnaire_id}/answers"): PUBLIC,
    ("POST", "/delegate/questionnaires/{questionnaire_id}/return"): PUBLIC,
    ("GET", "/definitions"): PUBLIC,
    ("GET", "/definitions/{ref}"): PUBLIC,
    ("POST", "/sandbox/{ref}"): PUBLIC,
    ("GET", "/.well-known/jwks.json"): PUBLIC,  # the keys regulators verify the feed with
}


@pytest.fixture(scope="module")
async def running(questionnaire_app):
    async with questionnaire_app("q_roles") as q:
        yield q


async def test_every_endpoint_has_a_row(running) -> None:
    routes = {
        (method.upper(), path)
        for path, operations in running.app.openapi()["paths"].items()
        for method in operations
    }
    assert routes == set(MATRIX)


@pytest.mark.parametrize(("method", "path"), list(MATRIX))
async def test_each_caller_is_refused_or_let_through(running, method: str, path: str) -> None:
    allowed = MATRIX[(method, path)]
    url = re.sub(r"\{(\w+)\}", lambda m: "2009-10" if m[1] == "cycle" else "X1", path)
    anonymous = await running.client.request(method, url, json={})
    if allowed == PUBLIC:
        assert anonymous.status_code not in (401, 403), anonymous.text
        return
    assert anonymous.status_code == 401, anonymous.text
    for role in ROLES:
        r = await running.client.request(
            method, url, json={}, headers=running.as_(role, org="X1", group="G1")
        )
        if role in allowed:
            assert r.status_code not in (401, 403), (role, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)
