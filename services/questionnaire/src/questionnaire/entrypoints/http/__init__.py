"""The questionnaire HTTP API, one router per feature."""

from fastapi import APIRouter

from . import cycles, delegates, questionnaires, returns, sandbox

ROUTERS: list[APIRouter] = [
    cycles.router,
    returns.router,
    questionnaires.router,
    delegates.router,
    sandbox.router,
]
