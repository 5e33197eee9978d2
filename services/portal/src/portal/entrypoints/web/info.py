"""The pages every GOV.UK service links from its footer: accessibility statement, privacy
notice, cookies and contact, with the contact details the portal is configured with."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from .rendering import render
from .session import ACCESS_COOKIE, REFRESH_COOKIE, USER_COOKIE, OptionalSession
from .sign_in_client import DEVICE_COOKIE

router = APIRouter(default_response_class=HTMLResponse)
# Each page loads who is signed in (if anyone) only so the layout's navigation shows it.

#: Every cookie the portal sets: (name, what it is for, how long it lasts). All are essential:
#: the service cannot work without them, so it asks no consent and sets no others.
_UNTIL = "Until you sign out or close your browser"
COOKIES = (
    (ACCESS_COOKIE, "Keeps you signed in as you move between pages", _UNTIL),
    (REFRESH_COOKIE, "Keeps you signed in when you are using the service for a while", _UNTIL),
    (USER_COOKIE, "Shows which email address you signed in with", _UNTIL),
    (
        "csm_csrf",
        "Checks that a form you send came from this service's own pages",
        "Until you close your browser",
    ),
    (
        DEVICE_COOKIE,
        "Remembers that this browser has signed in before, so that unusual sign-ins stand out",
        "90 days",
    ),
)


@router.get("/accessibility")
async def accessibility(request: Request, _: OptionalSession) -> Response:
    return render(request, "info/accessibility.html", title="Accessibility statement")


@router.get("/privacy")
async def privacy(request: Request, _: OptionalSession) -> Response:
    return render(request, "info/privacy.html", title="Privacy notice")


@router.get("/cookies")
async def cookies(request: Request, _: OptionalSession) -> Response:
    return render(request, "info/cookies.html", title="Cookies", cookies=COOKIES, width="full")


@router.get("/contact")
async def contact(request: Request, _: OptionalSession) -> Response:
    return render(request, "info/contact.html", title="Contact the national mapping team")
