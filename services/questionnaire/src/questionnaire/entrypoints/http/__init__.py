"""The questionnaire HTTP API, one router per feature."""

from fastapi import APIRouter

from . import cycles, delegates, jwks, questionnaires, returns, sandbox

#: Answering first: routing (and the tracing middleware naming the span) tries routes in
#: order, and saves and loads are nearly every request (issue #4). No two routers' paths overlap.
ROUTERS: list[APIRouter] = [
    questionnaires.router,
    delegates.router,
    cycles.router,
    returns.router,
    sandbox.router,
    jwks.router,
]
