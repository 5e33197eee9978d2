"""What the endpoints share: the wired services of the running app."""

from __future__ import annotations

from fastapi import Request

from ...services import Services


async def services_of(request: Request) -> Services:
    """The reporting services of the app serving a request (a FastAPI dependency)."""
    services: Services = request.app.state.services
    return services
