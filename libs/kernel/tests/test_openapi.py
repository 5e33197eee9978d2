"""Every operation's OpenAPI says what the kernel answers on every route: 422 with the kernel's
error body (not FastAPI's), and 413 where a body is taken."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from csm_kernel.http import install_error_handlers
from csm_kernel.openapi import document_kernel_answers


class Thing(BaseModel):
    name: str


def test_every_operation_documents_the_kernel_error_answers() -> None:
    app = FastAPI()
    install_error_handlers(app)
    document_kernel_answers(app)

    @app.get("/things/{n}")
    async def get(n: int) -> Thing:
        return Thing(name=str(n))

    @app.post("/things")
    async def post(thing: Thing) -> Thing:
        return thing

    doc = app.openapi()
    get_answers = doc["paths"]["/things/{n}"]["get"]["responses"]
    post_answers = doc["paths"]["/things"]["post"]["responses"]
    assert set(get_answers) == {"200", "404", "422"}
    assert set(post_answers) == {"200", "413", "422"}
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    assert post_answers["422"]["content"]["application/json"]["schema"] == ref
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["ErrorBody"]["properties"]["details"]["items"] == {
        "$ref": "#/components/schemas/ErrorDetail"
    }
    # What is documented is what is answered.
    answer = TestClient(app).get("/things/x")
    assert answer.status_code == 422
    assert set(answer.json()) == {"error", "details"}
    assert answer.json()["details"][0]["field"] == "path.n"
    no_route = TestClient(app).get("/things/a%2Fb")
    assert no_route.status_code == 404
    assert no_route.json() == {"error": "not found", "details": []}
