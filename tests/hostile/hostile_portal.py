"""The portal under the same attack: it serves HTML and publishes no OpenAPI, so its document is
made from its routes (FastAPI's `get_openapi`), with each form's fields (its handlers read
`request.form()` by hand) found in the source of the handler's module. It runs over the four
real services, in-process, each already seeded; the identities are session cookies."""

from __future__ import annotations

import inspect
import re
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from hostile_api import Identity
from hostile_stack import Target

#: `text(form, "name")`, `texts(form, "name")`, `form.get("name")`: the fields a handler reads.
FIELD = re.compile(r'\b(texts?)\(form, "([a-z_]+)"|form\.get\("([a-z_]+)"')


def form_fields() -> dict[str, dict[str, Any]]:
    """For each POST route's path, the JSON schema of the form its module reads."""
    from portal.bootstrap import ROUTERS

    out: dict[str, dict[str, Any]] = {}
    for module in ROUTERS:
        names = FIELD.findall(inspect.getsource(module))
        props: dict[str, Any] = {}
        for many, name, plain in names:
            many_ = {"type": "array", "items": {"type": "string"}}
            props[name or plain] = many_ if many == "texts" else {"type": "string"}
        for route in module.router.routes:
            if "POST" in getattr(route, "methods", ()):
                # No other field: a form that validates is what the attack needs to reach.
                schema = {"type": "object", "properties": props, "additionalProperties": False}
                out[route.path] = schema  # type: ignore[attr-defined]
    return out


def portal_openapi(app: FastAPI, answer_fields: list[str]) -> dict[str, Any]:
    doc = get_openapi(title="CSM portal", version="1", routes=app.routes)
    forms = form_fields()
    for path, ops in doc["paths"].items():
        post = ops.get("post")
        if post is None:
            continue
        found = forms.get(path, {"properties": {}})
        schema = {"type": "object", "properties": dict(found["properties"])}
        schema["additionalProperties"] = False
        if "questionnaire" in path or path.startswith(("/delegate/", "/sandbox/")):
            # Answer forms: one field per question, named by the question's id.
            schema["properties"].update({q: {"type": "string"} for q in answer_fields})
            schema["properties"]["version"] = {"type": "string"}
        post["requestBody"] = {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": schema}},
        }
    return doc


#: The form-token secret every portal identity's browser holds (`portal.entrypoints.web.csrf`).
CSRF_SECRET = "h" * 43


def portal_identities(services: Target, origin: str) -> list[Identity]:
    """The services' role identities as portal sessions (the access token in its cookie), each
    posting as a browser posts the portal's own forms: from the portal's origin, with the
    form token of its session. Without them every post stops at the CSRF check (403) and no
    form handler is reached."""
    from portal.entrypoints.web import csrf

    out = []
    for i in services.identities:
        token = i.headers.get("authorization", "").removeprefix("Bearer ")
        cookies = {csrf.cookie_name(secure=False): CSRF_SECRET}
        if token:
            cookies["csm_session"] = token
        form_token = csrf.token_for(CSRF_SECRET, csrf.session_id_of(token or None))
        headers = {"origin": origin, csrf.HEADER: form_token}
        out.append(Identity(i.name, headers=headers, cookies=cookies))
    return out


def service_clients(targets: dict[str, Target]) -> dict[str, httpx.AsyncClient]:
    """The portal's clients, each over ASGI to a running service: a service's exception
    reaches the test with its own traceback."""
    return {
        name: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=t.app), base_url=f"http://{name}", timeout=60
        )
        for name, t in targets.items()
    }


def known(targets: dict[str, Target], delegate_token: str) -> dict[str, list[Any]]:
    reg, q, rep = targets["registration"], targets["questionnaire"], targets["reporting"]
    codes = reg.known["code"]
    return {
        "cycle": ["2009-10"],
        "code": codes,
        "org": codes,
        "questionnaire_id": q.known["questionnaire_id"],
        "delegation_id": q.known["delegation_id"],
        "service_id": reg.known["service_id"],
        "ref": q.known["ref"],
        "name": rep.known["name"],
        "format": ["csv", "xlsx"],
        "act": ["extension", "reopen", "revoke", "accept", "send-back"],
        "token": [delegate_token],
        "region": ["london"],
        "organisation": codes,
        "area": ["00AA"],
    }
