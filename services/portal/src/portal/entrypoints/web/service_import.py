"""Adding many services from a file (CSV or JSON lines): the national team for anyone's, a
mapping lead for their own organisation's. The format and a template on the page; a preview
that lists every bad line (line, column, reason: registration's dry run) before anything is
saved; then a confirmation that registers them all.

The confirmation does not send the file again: registration keeps a file that passed its dry
run (a day, for the person who checked it) and the confirmation names it by its `upload_id`.
A confirmation sent twice registers nothing twice (registration leaves a line that repeats a
registered service as it is)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from csm_kernel.edge import body_limit

from ...application.bulk_files import Problem, megabytes, problems_of
from ...application.errors import ApiError
from ...application.ports import RegistrationApi
from ...application.service_import import (
    COLUMNS,
    CSV,
    TEMPLATE,
    first_services,
    media_type_of,
)
from .deps import Registration
from .forms import form_of, text
from .rendering import render
from .session import Importer, Session

router = APIRouter(default_response_class=HTMLResponse)

#: What the page accepts: registration takes up to 64 MiB and 100,000 services a file.
MAX_BYTES = 64 * 1024 * 1024
#: Problems listed on the page at most (a file of nonsense can have hundreds of thousands).
MAX_SHOWN = 2000
_UPLOAD_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _context(session: Session) -> dict[str, Any]:
    national = session.is_national
    return {
        "columns": COLUMNS,
        "national": national,
        "back": ("/national", "National team") if national else ("/services", "Your services"),
        "max_size": megabytes(MAX_BYTES),
    }


@router.get("/services/import")
async def import_page(request: Request, session: Importer) -> Response:
    return render(
        request, "directory/import.html", title="Add services from a file", **_context(session)
    )


@router.get("/services/import/template.csv")
async def template(_: Importer) -> Response:
    return Response(
        TEMPLATE,
        media_type=CSV,
        headers={"content-disposition": 'attachment; filename="services-template.csv"'},
    )


def _refused(request: Request, session: Session, reason: str) -> Response:
    return render(
        request,
        "directory/import.html",
        422,
        title="Add services from a file",
        file_error=reason,
        **_context(session),
    )


def _problems_page(
    request: Request, session: Session, filename: str, problems: list[Problem]
) -> Response:
    return render(
        request,
        "directory/import_preview.html",
        422,
        title="The file has problems",
        filename=filename,
        problems=problems[:MAX_SHOWN],
        problem_count=len(problems),
        bad_lines=len({p.line for p in problems}),
        width="full",
        **_context(session),
    )


@router.post("/services/import")
@body_limit(MAX_BYTES + 1024 * 1024)
async def preview(request: Request, session: Importer, registration: Registration) -> Response:
    form = await form_of(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _refused(request, session, "Select a CSV or JSON lines file")
    raw = await upload.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        return _refused(
            request, session, f"The file must be smaller than {megabytes(MAX_BYTES)}: split it"
        )
    media_type = media_type_of(upload.filename, raw)
    try:
        checked = await registration.import_services(session.token, raw, media_type, dry_run=True)
    except ApiError as exc:
        if exc.status not in (413, 415, 422):
            raise
        return _problems_page(request, session, upload.filename, problems_of(exc))
    services = first_services(raw, media_type)
    return render(
        request,
        "directory/import_preview.html",
        title="Check the services",
        filename=upload.filename,
        checked=checked,
        services=services,
        providers=await _names(registration, session, {s.provider for s in services}),
        problems=[],
        width="full",
        **_context(session),
    )


async def _names(
    registration: RegistrationApi, session: Session, codes: set[str]
) -> dict[str, str]:
    """The names of the (at most 20) providers the preview lists: people know organisations
    by name. A code registration will not show this person stays a code."""
    out = {}
    for code in sorted(codes):
        try:
            organisation = await registration.organisation(session.token, code)
        except ApiError:
            continue
        if organisation.name:
            out[code] = organisation.name
    return out


@router.post("/services/import/confirm")
async def confirm(request: Request, session: Importer, registration: Registration) -> Response:
    form = await form_of(request)
    upload_id = text(form, "upload_id")
    filename = text(form, "filename")
    if not _UPLOAD_ID.match(upload_id):
        return _refused(request, session, "Upload the file again: the check has expired")
    try:
        result = await registration.import_services(
            session.token, b"", CSV, dry_run=False, upload_id=upload_id
        )
    except ApiError as exc:
        if exc.status == 404:
            return _refused(request, session, "Upload the file again: the check has expired")
        if exc.status not in (409, 413, 415, 422):
            raise
        # The directory changed since the check (someone registered one of the services).
        return _problems_page(request, session, filename, problems_of(exc))
    return render(
        request,
        "directory/import_done.html",
        title="Services added",
        filename=filename,
        result=result,
        **_context(session),
    )
