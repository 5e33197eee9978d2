"""What the layout shows around every page: the service navigation (the current page marked
with `aria-current`) and a back link for every page below the top level."""

from __future__ import annotations

import re
from typing import TypedDict

from fastapi import Request
from starlette.routing import Match, Mount

from .session import Session


class NavItem(TypedDict, total=False):
    href: str
    text: str
    current: bool
    active: bool


#: Each navigation item's link, words and the paths below it (which mark it as the section).
_NATIONAL = ("/national", "National team", ("/national/",))
_REGISTER = ("/national/organisations/new", "Register an organisation", ())
_RETURN = ("/dashboard", "Your return", ("/returns/", "/questionnaires/"))
_SERVICES = ("/services", "Services", ("/services/", "/groups"))
_REPORTS = ("/reports", "Reports", ("/reports/",))
_SANDBOX = ("/sandbox", "Sandbox", ("/sandbox/",))
_MAILBOX = ("/mailbox", "Mailbox", ())

#: Pages at the top: the navigation's own, the start and sign-in pages, the footer's pages
#: and a delegate's emailed link (which is all a delegate sees). No back link on these.
TOP_LEVEL = (
    "/",
    "/sign-in",
    "/dashboard",
    "/national",
    "/national/organisations/new",
    "/services",
    "/reports",
    "/sandbox",
    "/mailbox",
    "/accessibility",
    "/privacy",
    "/cookies",
    "/contact",
)
_TOP_PREFIXES = ("/delegate/", "/account/")
#: A return's own page is where "Your return" (/dashboard) leads: the top level too.
_RETURN_PAGE = re.compile(r"^/returns/[^/]+$")
#: Where "back" goes when a page's parent path is no page (or the start page).
_PARENTS = {"/groups": "/services"}


def navigation(session: Session | None, path: str, mailbox: bool) -> list[NavItem]:
    """The service navigation's items for whoever is signed in, the current page (or the
    section it is in) marked."""
    chosen = []
    if session is not None:
        if session.is_national:
            chosen += [_NATIONAL, _REGISTER]
        if session.answers:
            chosen += [_RETURN, _SERVICES]
        chosen.append(_REPORTS)
    chosen.append(_SANDBOX)
    if mailbox:
        chosen.append(_MAILBOX)
    here = "/dashboard" if _RETURN_PAGE.match(path) else path
    current = next((href for href, _, _ in chosen if href == here), None)
    items: list[NavItem] = []
    for href, text, below in chosen:
        item: NavItem = {"href": href, "text": text}
        if href == current:
            item["current"] = True
        elif current is None and any(path.startswith(p) for p in below):
            item["active"] = True
        items.append(item)
    return items


#: Pages that are a way in themselves (or a delegate's link, which is all a delegate sees):
#: the "Sign in" link is not offered on them.
_NO_SIGN_IN_LINK = ("/sign-in", "/forgotten-password", "/set-up-link")
_NO_SIGN_IN_PREFIXES = ("/account/", "/delegate/")


def offers_sign_in(path: str) -> bool:
    """Does the "signed in as" bar offer "Sign in" to someone signed out on `path`? Not on the
    sign-in page itself, nor on the pages that lead back to it (forgotten password, a lost
    set-up link, setting a password), nor to a delegate."""
    path = path.rstrip("/") or "/"
    return path not in _NO_SIGN_IN_LINK and not path.startswith(_NO_SIGN_IN_PREFIXES)


def _is_page(request: Request, path: str) -> bool:
    """Does a GET of `path` reach a page? (Every route is asked, included routers too; the
    static mounts are not pages.)"""
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    return any(
        not isinstance(route, Mount) and route.matches(scope)[0] is Match.FULL
        for route in request.app.routes
    )


def back_link(request: Request) -> str | None:
    """Where a page below the top level goes back to: its nearest parent path that is a page
    (None at the top, where there is nothing to go back to)."""
    path = request.url.path.rstrip("/") or "/"
    if path in TOP_LEVEL or path.startswith(_TOP_PREFIXES) or _RETURN_PAGE.match(path):
        return None
    if path in _PARENTS:
        return _PARENTS[path]
    parts = path.split("/")
    while len(parts) > 2:
        parts.pop()
        parent = "/".join(parts)
        if _is_page(request, parent):
            return parent
    return "/"
