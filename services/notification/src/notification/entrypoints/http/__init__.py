"""The notification HTTP API, one router per feature: the delivery log, template previews, the
deadline reminders' schedule and the e-bulletin."""

from fastapi import APIRouter

from . import bulletins, deliveries, reminders, templates

ROUTERS: list[APIRouter] = [
    deliveries.router,
    templates.router,
    reminders.router,
    bulletins.router,
]
