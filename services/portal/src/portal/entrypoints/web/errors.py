"""Every failure a page can meet, mapped to a page in one place: never a stack trace.

| what | page |
|---|---|
| a service is down or fails (`ServiceUnavailable`) | 503 naming the service |
| not signed in, or the session ended (`SignInRequired`, API 401) | sign in (`auth.sign_in_again`) |
| another role's page (`NotAllowed`, API 403) | 403 |
| nothing there (API 404, an unknown path) | 404 |
| a link that closed (API 410: revoked, accepted, expired) | 410 with the reason |
| any other refusal not handled by its form | 4xx with the service's message |
| NUL, text that is not UTF-8, a body too large (`csm_kernel.edge`) | 422 / 413 |
| anything else | 500, logged with its trace |
"""

from __future__ import annotations

import contextlib

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from csm_kernel.edge import Refusal
from csm_kernel.observability import get_logger
from csm_kernel.request_tracing import Scope

from ...application.errors import ApiError, ServiceUnavailable
from .auth import sign_in_again
from .forms import back_to
from .rendering import render
from .security import apply_headers
from .session import NotAllowed, SignInRequired, load_session

log = get_logger(__name__)

PLAIN_PROBLEM = (
    "<!DOCTYPE html><html lang='en'><head><title>Sorry, there is a problem with the service"
    "</title></head><body><h1>Sorry, there is a problem with the service</h1>"
    "<p>Try again later.</p></body></html>"
)


async def _with_session(request: Request) -> None:
    """Load who is signed in for the layout, if that still works (never raises)."""
    with contextlib.suppress(Exception):
        await load_session(request)


async def edge_refusal(scope: Scope, refusal: Refusal) -> Response:
    """The page for a request the edge refused before any page saw it (`csm_kernel.edge`)."""
    if refusal.status == 413:
        message = f"What you sent is too large: {refusal.message.removeprefix('the ')}."
    else:
        fields = ", ".join(d["field"] for d in refusal.details)
        message = (
            "What you sent holds characters that cannot be kept (a NUL character, or text "
            f"that is not UTF-8), in: {fields}. Remove them and try again."
        )
    try:
        return render(Request(scope), "errors/refused.html", refusal.status, message=message)
    except Exception:
        log.exception("the refusal page failed")
        return HTMLResponse(PLAIN_PROBLEM, status_code=refusal.status)


def install_page_errors(app: FastAPI) -> None:
    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(request: Request, exc: ServiceUnavailable) -> Response:
        log.warning(
            "service unavailable", service=exc.service, reason=exc.reason, path=request.url.path
        )
        return render(request, "errors/unavailable.html", 503, service=exc.label)

    @app.exception_handler(SignInRequired)
    async def _signed_out(request: Request, _: SignInRequired) -> Response:
        return await sign_in_again(request)

    @app.exception_handler(NotAllowed)
    async def _not_allowed(request: Request, _: NotAllowed) -> Response:
        await _with_session(request)
        return render(request, "errors/forbidden.html", 403)

    @app.exception_handler(ApiError)
    async def _refused(request: Request, exc: ApiError) -> Response:
        if exc.status == 401:
            return await sign_in_again(request)
        if exc.status == 403:
            return render(request, "errors/forbidden.html", 403, message=exc.message)
        if exc.status == 404:
            return render(request, "errors/not_found.html", 404, message=exc.message)
        if exc.status == 410:
            return render(request, "errors/gone.html", 410, message=exc.message)
        return render(
            request, "errors/refused.html", exc.status, message=exc.message, back=back_to(request)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        await _with_session(request)
        if exc.status_code == 404:
            return render(request, "errors/not_found.html", 404)
        return render(
            request,
            "errors/refused.html",
            exc.status_code,
            message=str(exc.detail),
            back=back_to(request),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("page failed", path=request.url.path)
        # This handler runs outside the middleware, so it adds the headers itself.
        try:
            response: Response = render(request, "errors/problem.html", 500)
        except Exception:
            log.exception("the error page failed too")
            response = HTMLResponse(PLAIN_PROBLEM, status_code=500)
        apply_headers(request, response)
        return response
