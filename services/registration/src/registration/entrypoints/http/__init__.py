"""The registration HTTP API, one router per feature."""

from fastapi import APIRouter

from . import accounts, directory, national_accounts, organisations

ROUTERS: list[APIRouter] = [
    organisations.router,
    directory.router,
    accounts.router,
    national_accounts.router,
]
