"""How routes reach the application: the services `bootstrap` wired at start, typed."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ...application.bulletins import Bulletins
from ...application.deliveries import Deliveries
from ...application.reminders import Reminders
from ...application.service import NotificationService


def service_of(request: Request) -> NotificationService:
    service: NotificationService = request.app.state.services
    return service


def bulletins_of(request: Request) -> Bulletins:
    return service_of(request).bulletins


def deliveries_of(request: Request) -> Deliveries:
    return service_of(request).deliveries


def reminders_of(request: Request) -> Reminders:
    return service_of(request).reminders


BulletinsDep = Annotated[Bulletins, Depends(bulletins_of)]
DeliveriesDep = Annotated[Deliveries, Depends(deliveries_of)]
RemindersDep = Annotated[Reminders, Depends(reminders_of)]
