"""What every service's OpenAPI document says of the answers the kernel gives on every route.

FastAPI documents a 422 with its own `HTTPValidationError` body, but the kernel answers request
validation failures with `ErrorBody` (`csm_kernel.http`), and the edge guard (`csm_kernel.edge`)
answers 422 for NUL or bad UTF-8 in any parameter and 413 for a body over the limit, whatever
the route. `document_kernel_answers` makes the document say so, once, for every operation.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from .http import ERROR_MEANINGS, ErrorBody

_ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


def _answer(status: int) -> dict[str, Any]:
    return {
        "description": ERROR_MEANINGS[status],
        "content": {"application/json": {"schema": _ERROR_BODY}},
    }


def document_kernel_answers(app: FastAPI) -> None:
    """Replace `app.openapi` with one that documents the kernel's 422 on every operation, 404
    on those with path parameters and 413 on those that take a body, with `ErrorBody`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault(
            "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        )
        for name, schema in (
            ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
            .get("$defs", {})
            .items()
        ):
            schemas.setdefault(name, schema)
        schemas["ErrorBody"].pop("$defs", None)
        for path in doc.get("paths", {}).values():
            for operation in path.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                answers = operation["responses"]
                answers["422"] = _answer(422)
                # A path parameter that is no path segment (it holds a `/`) matches no route.
                if any(p.get("in") == "path" for p in operation.get("parameters", [])):
                    answers.setdefault("404", _answer(404))
                if "requestBody" in operation:
                    answers.setdefault("413", _answer(413))
        for unused in ("HTTPValidationError", "ValidationError"):
            if not _referenced(doc, unused):
                schemas.pop(unused, None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def _referenced(doc: dict[str, Any], name: str) -> bool:
    return f'"#/components/schemas/{name}"' in json.dumps(doc)
