"""The notification HTTP API, one router per feature: the delivery log, template previews, the
deadline reminders' schedule and the e-bulletin."""

from fastapi import APIRouter

from . import bulletin_preview, bulletins, deliveries, reminders, templates

ROUTERS: list[APIRouter] = [
    deliveries.router,
    templates.router,
    reminders.router,
    bulletin_preview.router,
    bulletins.router,
]
