"""What the pages reach, once wired by `bootstrap`: the settings, the token verifier and the
services' APIs (the application's ports), each as a typed FastAPI dependency."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from csm_kernel.auth import TokenVerifier

from ...application.people import RecentPeople
from ...application.ports import (
    Apis,
    NotificationApi,
    Peers,
    QuestionnaireApi,
    RegistrationApi,
    ReportingApi,
)
from ...settings import PortalSettings


@dataclass
class Portal:
    """What every page reaches through `request.app.state.portal` (set once by bootstrap)."""

    settings: PortalSettings
    apis: Apis
    verifier: TokenVerifier | None
    peers: Peers
    #: Who is signed in, by name, for the "signed in as" bar.
    people: RecentPeople = field(default_factory=RecentPeople)


def portal_of(request: Request) -> Portal:
    found: Portal = request.app.state.portal
    return found


def _registration(request: Request) -> RegistrationApi:
    return portal_of(request).apis.registration


def _questionnaire(request: Request) -> QuestionnaireApi:
    return portal_of(request).apis.questionnaire


def _reporting(request: Request) -> ReportingApi:
    return portal_of(request).apis.reporting


def _notification(request: Request) -> NotificationApi:
    return portal_of(request).apis.notification


Registration = Annotated[RegistrationApi, Depends(_registration)]
Questionnaires = Annotated[QuestionnaireApi, Depends(_questionnaire)]
Reporting = Annotated[ReportingApi, Depends(_reporting)]
Notifications = Annotated[NotificationApi, Depends(_notification)]
