"""Registering many organisations with their mapping leads from a CSV file: the format and a
template, a preview listing every bad line (line, field, reason) before anything is saved,
then a confirmation that registers them and nominates the leads a batch at a time (each is
emailed a set-up link)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from csm_kernel.edge import body_limit

from ...application.bulk_files import Problem, as_text, megabytes, problems_of
from ...application.bulk_registration import (
    LEAD_COLUMNS,
    ORGANISATION_COLUMNS,
    TEMPLATE,
    Upload,
    organisations_file,
    read_upload,
)
from ...application.errors import ApiError
from ...application.ports import RegistrationApi
from .deps import Registration
from .forms import form_of, text
from .national import KINDS, REGIONS
from .rendering import render
from .session import National

router = APIRouter(default_response_class=HTMLResponse)

#: What the page accepts (registration's import takes up to 5 MiB and 20,000 rows).
MAX_BYTES = 5 * 1024 * 1024
#: Leads nominated per request (registration takes up to 1,000; each request is one
#: transaction holding its event store's append lock: about 1 s of CPU for 500).
LEADS_PER_REQUEST = 500


@router.get("/national/organisations/import")
async def import_page(request: Request, _: National) -> Response:
    return render(
        request,
        "national/import.html",
        title="Register organisations from a file",
        columns=ORGANISATION_COLUMNS + LEAD_COLUMNS,
    )


@router.get("/national/organisations/import/template.csv")
async def template(_: National) -> Response:
    return Response(
        TEMPLATE,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="organisations-template.csv"'},
    )


async def _checked(
    registration: RegistrationApi, token: str, text_: str
) -> tuple[Upload, list[Problem]]:
    """The file read, and every problem with it: the leads' columns here, the organisations'
    by registration's import run without writing (its lines mapped back to the file's)."""
    upload = read_upload(text_)
    problems = list(upload.problems)
    if upload.rows and not any(p.field == "file" or p.line == 1 for p in problems):
        body, lines = organisations_file(upload)
        try:
            await registration.import_organisations(token, body, dry_run=True)
        except ApiError as exc:
            if exc.status not in (413, 415, 422):
                raise
            problems.extend(problems_of(exc, lines))
    return upload, sorted(problems, key=lambda p: (p.line, p.field))


def _refused(request: Request, reason: str) -> Response:
    return render(
        request,
        "national/import.html",
        422,
        title="Register organisations from a file",
        columns=ORGANISATION_COLUMNS + LEAD_COLUMNS,
        file_error=reason,
    )


@router.post("/national/organisations/import")
async def preview(request: Request, session: National, registration: Registration) -> Response:
    form = await form_of(request)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _refused(request, "Select a CSV file")
    raw = await upload.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        return _refused(request, f"The file must be smaller than {megabytes(MAX_BYTES)}: split it")
    content = as_text(raw)
    if content is None:
        return _refused(request, "The file must be saved as CSV UTF-8")
    rows, problems = await _checked(registration, session.token, content)
    return render(
        request,
        "national/import_preview.html",
        422 if problems else 200,
        title="Check the organisations" if not problems else "The file has problems",
        filename=upload.filename,
        rows=rows.rows,
        problems=problems,
        content=content,
        kind_labels=dict(KINDS),
        region_labels=dict(REGIONS),
        width="full",
    )


@router.post("/national/organisations/import/confirm")
# The checked file comes back in a form field: URL-encoded, up to three times its size.
@body_limit(3 * MAX_BYTES + 64 * 1024)
async def confirm(request: Request, session: National, registration: Registration) -> Response:
    form = await form_of(request)
    content = text(form, "content")
    rows, problems = await _checked(registration, session.token, content)
    if problems or not rows.rows:
        return render(
            request,
            "national/import_preview.html",
            422,
            title="The file has problems",
            filename=text(form, "filename"),
            rows=rows.rows,
            problems=problems,
            content=content,
            kind_labels=dict(KINDS),
            region_labels=dict(REGIONS),
            width="full",
        )
    body, _ = organisations_file(rows)
    result = await registration.import_organisations(session.token, body, dry_run=False)
    # The leads a batch at a time (one request and one commit each), not one by one: 5,000
    # lines are 10 requests. A lead refused is reported in its place; the rest stand.
    leads = [(r.values["code"], r.values["lead_email"], r.values["lead_name"]) for r in rows.rows]
    failed: list[tuple[str, str]] = []
    for start in range(0, len(leads), LEADS_PER_REQUEST):
        batch = leads[start : start + LEADS_PER_REQUEST]
        outcomes = await registration.nominate_leads(session.token, batch)
        failed += [
            (code, reason)
            for (code, _, _), reason in zip(batch, outcomes, strict=True)
            if reason is not None
        ]
    return render(
        request,
        "national/import_done.html",
        title="Organisations registered",
        result=result,
        rows=rows.rows,
        failed=failed,
    )
