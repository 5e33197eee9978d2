"""The registration service's API as the portal's `RegistrationApi` port."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import TypeAdapter

from ..application.models import (
    Account,
    ChangesSinceLastYear,
    Group,
    JsonObject,
    LeadNomination,
    Organisation,
    OrganisationsPage,
    Person,
    ServiceRecord,
    ServicesPage,
    Tokens,
)
from ..application.national_accounts import NationalAccount
from ..application.way_back_in import CurrentLead, LinkStatus
from .api import Api

_ACCOUNT = TypeAdapter(Account)
_TOKENS = TypeAdapter(Tokens)
_GROUPS = TypeAdapter(list[Group])
_ORGANISATIONS = TypeAdapter(OrganisationsPage)
_ORGANISATION = TypeAdapter(Organisation)
_LEADS = TypeAdapter(list[LeadNomination])
_SERVICES = TypeAdapter(ServicesPage)
_SERVICE = TypeAdapter(ServiceRecord)
_CHANGES = TypeAdapter(ChangesSinceLastYear)
_LINK_STATUS = TypeAdapter(LinkStatus)
_LEAD = TypeAdapter(CurrentLead)
#: Registration's route for each kind of link a person may ask for by email address.
_LINK_REQUESTS = {"password-reset": "password-reset-requests", "set-up": "set-up-link-requests"}
_NATIONAL = TypeAdapter(list[NationalAccount])
#: A national services file (100,000 lines) takes registration tens of seconds to check.
IMPORT_TIMEOUT_SECONDS = 600.0
_PEOPLE = TypeAdapter(list[Person])


class HttpRegistration:
    def __init__(self, api: Api) -> None:
        self.api = api

    async def me(self, token: str) -> Account:
        return await self.api.fetch(_ACCOUNT, "GET", "/auth/me", token=token)

    async def refresh(self, refresh_token: str) -> Tokens:
        return await self.api.fetch(
            _TOKENS, "POST", "/auth/refresh", json={"refresh_token": refresh_token}
        )

    async def sign_in(
        self, email: str, password: str, device_token: str | None, headers: Mapping[str, str]
    ) -> Tokens:
        body: JsonObject = {"email": email, "password": password}
        if device_token is not None:
            body["device_token"] = device_token
        return await self.api.fetch(_TOKENS, "POST", "/auth/sign-in", json=body, headers=headers)

    async def sign_out(self, token: str) -> None:
        await self.api.send("POST", "/auth/sign-out", token=token)

    async def set_up(self, setup_token: str, password: str) -> None:
        await self.api.send(
            "POST", "/auth/set-up", json={"token": setup_token, "password": password}
        )

    async def request_link(self, kind: str, email: str, headers: Mapping[str, str]) -> None:
        await self.api.send(
            "POST", f"/auth/{_LINK_REQUESTS[kind]}", json={"email": email}, headers=headers
        )

    async def check_link(self, token: str, purpose: str) -> LinkStatus:
        return await self.api.fetch(
            _LINK_STATUS, "POST", "/auth/links/check", json={"token": token, "purpose": purpose}
        )

    async def reset_password(self, reset_token: str, password: str) -> None:
        await self.api.send(
            "POST", "/auth/reset-password", json={"token": reset_token, "password": password}
        )

    async def current_lead(self, token: str, code: str) -> CurrentLead:
        return await self.api.fetch(_LEAD, "GET", f"/organisations/{code}/lead", token=token)

    async def send_set_up_link(self, token: str, account_id: str) -> None:
        await self.api.send("POST", f"/accounts/{account_id}/set-up-link", token=token)

    async def groups(self, token: str, organisation: str) -> list[Group]:
        return await self.api.fetch(
            _GROUPS, "GET", f"/organisations/{organisation}/groups", token=token
        )

    async def define_group(self, token: str, organisation: str, body: JsonObject) -> None:
        await self.api.send("POST", f"/organisations/{organisation}/groups", token=token, json=body)

    async def register_organisation(self, token: str, body: JsonObject) -> None:
        await self.api.send("POST", "/organisations", token=token, json=body)

    async def nominate_lead(self, token: str, code: str, email: str, name: str) -> None:
        await self.api.send(
            "PUT", f"/organisations/{code}/lead", token=token, json={"email": email, "name": name}
        )

    async def nominate_leads(
        self, token: str, leads: Sequence[tuple[str, str, str]]
    ) -> list[str | None]:
        reply = await self.api.call(
            "POST",
            "/organisations/leads",
            token=token,
            json={"leads": [{"code": c, "email": e, "name": n} for c, e, n in leads]},
        )
        outcomes = reply.body.get("outcomes", []) if isinstance(reply.body, dict) else []
        return [o.get("reason") if o.get("status") else None for o in outcomes]

    async def organisations(
        self,
        token: str,
        *,
        after: str | None,
        region: str | None,
        limit: int,
        kind: str | None = None,
        before: str | None = None,
    ) -> OrganisationsPage:
        return await self.api.fetch(
            _ORGANISATIONS,
            "GET",
            "/organisations",
            token=token,
            params={
                "after": after,
                "before": before,
                "region": region,
                "kind": kind,
                "limit": limit,
            },
        )

    async def organisation(self, token: str, code: str) -> Organisation:
        return await self.api.fetch(_ORGANISATION, "GET", f"/organisations/{code}", token=token)

    async def import_organisations(self, token: str, csv: bytes, *, dry_run: bool) -> JsonObject:
        reply = await self.api.call(
            "POST",
            "/organisations/import",
            token=token,
            headers={"content-type": "text/csv; charset=utf-8"},
            params={"dry_run": "true" if dry_run else "false"},
            content=csv,
        )
        return reply.body if isinstance(reply.body, dict) else {}

    async def import_services(
        self,
        token: str,
        body: bytes,
        media_type: str,
        *,
        dry_run: bool,
        upload_id: str | None = None,
    ) -> JsonObject:
        reply = await self.api.call(
            "POST",
            "/directory/services/import",
            token=token,
            headers={"content-type": media_type},
            params={"dry_run": "true" if dry_run else "false", "upload_id": upload_id},
            content=body,
            wait_seconds=IMPORT_TIMEOUT_SECONDS,
        )
        return reply.body if isinstance(reply.body, dict) else {}

    async def national_accounts(self, token: str) -> list[NationalAccount]:
        return await self.api.fetch(_NATIONAL, "GET", "/accounts", token=token)

    async def create_national_account(self, token: str, email: str, name: str, role: str) -> None:
        await self.api.send(
            "POST", "/accounts", token=token, json={"email": email, "name": name, "role": role}
        )

    async def disable_account(self, token: str, account_id: str, reason: str) -> None:
        await self.api.send(
            "POST", f"/accounts/{account_id}/disable", token=token, json={"reason": reason}
        )

    async def people(self, token: str, account_ids: list[str]) -> list[Person]:
        if not account_ids:
            return []
        return await self.api.fetch(
            _PEOPLE, "GET", "/people", token=token, params={"id": account_ids}
        )

    async def lead_history(self, token: str, code: str) -> list[LeadNomination]:
        return await self.api.fetch(
            _LEADS, "GET", f"/organisations/{code}/lead/history", token=token
        )

    async def services(
        self, token: str, *, cycle: str | None, status: str | None = None, limit: int = 100
    ) -> ServicesPage:
        return await self.api.fetch(
            _SERVICES,
            "GET",
            "/directory/services",
            token=token,
            params={"cycle": cycle, "status": status, "limit": limit},
        )

    async def add_service(self, token: str, body: JsonObject) -> None:
        await self.api.send("POST", "/directory/services", token=token, json=body)

    async def service(self, token: str, service_id: str) -> ServiceRecord:
        return await self.api.fetch(
            _SERVICE, "GET", f"/directory/services/{service_id}", token=token
        )

    async def service_changes(self, token: str, service_id: str) -> ChangesSinceLastYear:
        return await self.api.fetch(
            _CHANGES,
            "GET",
            f"/directory/services/{service_id}/changes-since-last-year",
            token=token,
        )

    async def act_on_service(self, token: str, service_id: str, act: str, body: JsonObject) -> None:
        await self.api.send(
            "POST", f"/directory/services/{service_id}/{act}", token=token, json=body
        )

    async def revise_service(self, token: str, service_id: str, body: JsonObject) -> None:
        await self.api.send("PATCH", f"/directory/services/{service_id}", token=token, json=body)
