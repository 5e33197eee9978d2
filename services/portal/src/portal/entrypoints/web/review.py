"""The carry-forward review: last cycle's services arrive "to be checked", and the lead (or
the group's owner) confirms each as it is, revises it (seeing what changed since last year),
or withdraws it with a reason. Every change sends the version of the record it was decided
on, so two people checking the same service cannot overwrite each other unseen."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from ...application.directory import ShownChange, labelled
from ...application.errors import ApiError
from ...application.models import JsonObject, ServiceRecord
from ...application.numbers import whole_number
from ...application.ports import QuestionnaireApi, RegistrationApi
from .dashboard import groups_of
from .deps import Questionnaires, Registration
from .directory import cycle_of, refuse_when_signed_off, settled, signed_off_at
from .forms import form_of, text, values
from .rendering import FormErrors, render
from .service_form import FIELDS, LABELS, SERVICE_TYPES, check, form_of_record, revision
from .session import Lead, Session

router = APIRouter(default_response_class=HTMLResponse)

STALE = "Someone else changed this service while you were looking at it: check it again"


def _id(service_id: str) -> str:
    # Only a service id reaches the registration service; anything else is no page at all.
    try:
        return str(uuid.UUID(service_id))
    except ValueError:
        raise HTTPException(404) from None


async def _record(
    registration: RegistrationApi, session: Session, service_id: str
) -> ServiceRecord:
    return await registration.service(session.token, _id(service_id))


async def _changes(
    registration: RegistrationApi, session: Session, service_id: str
) -> list[ShownChange]:
    found = await registration.service_changes(session.token, _id(service_id))
    return labelled(found.changes, LABELS)


@router.get("/services/review")
async def to_check(
    request: Request, session: Lead, api: Questionnaires, registration: Registration
) -> Response:
    cycle = await cycle_of(api, session)
    page = await registration.services(
        session.token, cycle=cycle, status="to-be-checked", limit=100
    )
    return render(
        request,
        "directory/review.html",
        title="Services to check",
        page=page,
        cycle=cycle,
        width="full",
    )


@router.get("/services/{service_id}")
async def service(
    request: Request,
    service_id: str,
    session: Lead,
    registration: Registration,
    api: Questionnaires,
    done: str | None = None,
) -> Response:
    record = await _record(registration, session, service_id)
    when = await signed_off_at(api, session, record.cycle)
    return render(
        request,
        "directory/service.html",
        title=record.name,
        s=record,
        changes=await _changes(registration, session, service_id),
        groups=await groups_of(registration, session),
        done=done,
        settled=settled(record.cycle, when, "its services cannot be changed") if when else None,
    )


async def _unsettled(
    api: QuestionnaireApi, registration: RegistrationApi, session: Session, service_id: str
) -> ServiceRecord:
    """The service, unless its cycle's return is signed off (409 saying why and who can
    reopen it): a revision, withdrawal or confirmation would change what was signed off."""
    record = await _record(registration, session, service_id)
    await refuse_when_signed_off(
        api, session, record.cycle, "its services cannot be confirmed, revised or withdrawn"
    )
    return record


async def _act(
    registration: RegistrationApi, session: Session, service_id: str, act: str, body: JsonObject
) -> None:
    await registration.act_on_service(session.token, _id(service_id), act, body)


@router.post("/services/{service_id}/confirm")
async def confirm(
    request: Request,
    service_id: str,
    session: Lead,
    registration: Registration,
    api: Questionnaires,
) -> Response:
    form = await form_of(request)
    await _unsettled(api, registration, session, service_id)
    try:
        await _act(
            registration,
            session,
            service_id,
            "confirm",
            {"expected_version": whole_number(text(form, "version")) or 0},
        )
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        record = await _record(registration, session, service_id)
        errors = FormErrors()
        errors.add(
            None,
            STALE if exc.status == 409 and record.status == "to-be-checked" else exc.message,
        )
        return render(
            request,
            "directory/service.html",
            409,
            title=record.name,
            s=record,
            changes=await _changes(registration, session, service_id),
            groups=await groups_of(registration, session),
            errors=errors,
        )
    return RedirectResponse(f"/services/{service_id}?done=confirmed", 303)


async def _revise_form(
    request: Request,
    session: Session,
    registration: RegistrationApi,
    record: ServiceRecord,
    status: int = 200,
    **ctx: object,
) -> Response:
    return render(
        request,
        "directory/revise.html",
        status,
        title=f"Revise {record.name}",
        s=record,
        types=SERVICE_TYPES,
        groups=await groups_of(registration, session),
        changes=await _changes(registration, session, record.service_id),
        **ctx,
    )


@router.get("/services/{service_id}/revise")
async def revise_page(
    request: Request,
    service_id: str,
    session: Lead,
    registration: Registration,
    api: Questionnaires,
) -> Response:
    record = await _unsettled(api, registration, session, service_id)
    shown = {**form_of_record(record), "version": str(record.version)}
    return await _revise_form(request, session, registration, record, values=shown)


@router.post("/services/{service_id}/revise")
async def revise(
    request: Request,
    service_id: str,
    session: Lead,
    registration: Registration,
    api: Questionnaires,
) -> Response:
    form = await form_of(request)
    record = await _unsettled(api, registration, session, service_id)
    errors = check(form)
    changes = revision(record, form) if not errors else {}
    if not errors and not changes:
        errors.add(
            "name",
            "You have not changed anything. If the service is still right, confirm it instead",
        )
    if not errors:
        try:
            await registration.revise_service(
                session.token,
                _id(service_id),
                {"expected_version": whole_number(text(form, "version")) or 0, **changes},
            )
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            errors = FormErrors.from_api(exc, FIELDS, fallback="name")
            if exc.status == 409:
                errors = FormErrors()
                errors.add(None, STALE)
        else:
            return RedirectResponse(f"/services/{service_id}?done=revised", 303)
    shown = values(form)
    # After a conflict the next attempt is decided on the record as it now is.
    shown["version"] = str(record.version)
    return await _revise_form(
        request, session, registration, record, 422, errors=errors, values=shown
    )


@router.get("/services/{service_id}/withdraw")
async def withdraw_page(
    request: Request,
    service_id: str,
    session: Lead,
    registration: Registration,
    api: Questionnaires,
) -> Response:
    record = await _unsettled(api, registration, session, service_id)
    return render(
        request,
        "directory/withdraw.html",
        title=f"Withdraw {record.name}",
        s=record,
        values={"version": str(record.version)},
    )


@router.post("/services/{service_id}/withdraw")
async def withdraw(
    request: Request,
    service_id: str,
    session: Lead,
    registration: Registration,
    api: Questionnaires,
) -> Response:
    form = await form_of(request)
    await _unsettled(api, registration, session, service_id)
    errors = FormErrors()
    reason = text(form, "reason")
    if not reason:
        errors.add("reason", "Enter why the service is being withdrawn")
    else:
        try:
            await _act(
                registration,
                session,
                service_id,
                "withdraw",
                {"expected_version": whole_number(text(form, "version")) or 0, "reason": reason},
            )
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            errors = FormErrors.from_api(exc, {"reason": ("reason", "Reason")}, fallback="reason")
        else:
            return RedirectResponse("/services?done=withdrawn", 303)
    record = await _record(registration, session, service_id)
    return render(
        request,
        "directory/withdraw.html",
        422,
        title=f"Withdraw {record.name}",
        s=record,
        errors=errors,
        values={**values(form), "version": str(record.version)},
    )
