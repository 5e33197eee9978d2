"""What the endpoints share: the wired application of the running app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ...application.service import Reporting


async def reporting_of(request: Request) -> Reporting:
    """The reporting application of the app serving a request (a FastAPI dependency); wired
    once at start by `bootstrap`."""
    reporting: Reporting = request.app.state.services
    return reporting


#: The wired application, as a route parameter's type.
ReportingDep = Annotated[Reporting, Depends(reporting_of)]
