"""Every service's OpenAPI document says what each operation answers: a success body with its
schema (or its media type), and the error answers in the kernel's error body. The hostile suite
(`tests/hostile`) checks the other half: no answer it provokes is missing from the document."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from csm_kernel.settings import ServiceSettings

SERVICES = ["registration", "questionnaire", "reporting", "notification"]


def _operations(service: str) -> list[tuple[str, dict[str, Any]]]:
    bootstrap = importlib.import_module(f"{service}.bootstrap")
    doc = bootstrap.build_app(ServiceSettings()).openapi()
    return [
        (f"{method.upper()} {path}", operation)
        for path, methods in doc["paths"].items()
        for method, operation in methods.items()
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_documents_its_success_body_and_errors(service: str) -> None:
    operations = _operations(service)
    assert operations
    undocumented = []
    for label, operation in operations:
        answers = operation["responses"]
        success = {s: a for s, a in answers.items() if s.startswith(("2", "3"))}
        bodies = [
            a.get("content") for s, a in success.items() if s != "204" and not s.startswith("3")
        ]
        # JSON needs its schema; a file or a page is described by its media type.
        if not success or any(
            not c or ("application/json" in c and not c["application/json"].get("schema"))
            for c in bodies
        ):
            undocumented.append(f"{label}: success answer without a schema")
        for status, answer in answers.items():
            if status.startswith("4"):
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if schema != {"$ref": "#/components/schemas/ErrorBody"}:
                    undocumented.append(f"{label}: {status} without the error body")
        if "422" not in answers:
            undocumented.append(f"{label}: no 422 (every request can be refused at the edge)")
    assert not undocumented, "\n".join(undocumented)
