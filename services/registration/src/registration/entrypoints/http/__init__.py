"""The registration HTTP API, one router per feature."""

from fastapi import APIRouter

from . import accounts, directory, national_accounts, organisations, people, way_back_in

ROUTERS: list[APIRouter] = [
    organisations.router,
    directory.router,
    accounts.router,
    way_back_in.router,
    national_accounts.router,
    people.router,
]
