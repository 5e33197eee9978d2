"""The questionnaire service's API as the portal's `QuestionnaireApi` port."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from ..application.models import (
    BroughtIn,
    Cycle,
    Definition,
    Delegation,
    JsonObject,
    LastYearOffer,
    QuestionnaireSummary,
    QuestionnaireView,
    ReturnStatus,
    SignedOff,
)
from ..application.ports import Access
from .api import Api

_CYCLES = TypeAdapter(list[Cycle])
_CYCLE = TypeAdapter(Cycle)
_RETURN = TypeAdapter(ReturnStatus)
_SIGNED = TypeAdapter(SignedOff)
_OWED = TypeAdapter(list[QuestionnaireSummary])
_DELEGATIONS = TypeAdapter(list[Delegation])
_DEFINITIONS = TypeAdapter(list[Definition])
_OBJECT = TypeAdapter(JsonObject)
_VIEW = TypeAdapter(QuestionnaireView)
_OBJECTS = TypeAdapter(list[JsonObject])
_LAST_YEAR = TypeAdapter(LastYearOffer)
_BROUGHT_IN = TypeAdapter(BroughtIn)


def _opening(access: Access, questionnaire_id: str) -> tuple[str, dict[str, Any]]:
    """The questionnaire's path and how the call is made, for the lead or the delegate."""
    if access.delegate_token:
        base = f"/delegate/questionnaires/{questionnaire_id}"
        return base, {"token": access.token, "headers": {"X-Delegate-Token": access.delegate_token}}
    return f"/questionnaires/{questionnaire_id}", {"token": access.token, "headers": {}}


class HttpQuestionnaire:
    def __init__(self, api: Api) -> None:
        self.api = api

    async def cycles(self, token: str) -> list[Cycle]:
        return await self.api.fetch(_CYCLES, "GET", "/cycles", token=token)

    async def cycle(self, token: str, cycle: str) -> Cycle:
        return await self.api.fetch(_CYCLE, "GET", f"/cycles/{cycle}", token=token)

    async def schedule_cycle(self, token: str, body: JsonObject) -> None:
        await self.api.send("POST", "/cycles", token=token, json=body)

    async def change_timetable(self, token: str, cycle: str, body: JsonObject) -> None:
        await self.api.send("PUT", f"/cycles/{cycle}/timetable", token=token, json=body)

    async def move_phase(self, token: str, cycle: str, phase: str, reason: str) -> None:
        await self.api.send(
            "POST", f"/cycles/{cycle}/phase", token=token, json={"phase": phase, "reason": reason}
        )

    async def return_status(self, token: str, cycle: str, organisation: str) -> ReturnStatus:
        return await self.api.fetch(
            _RETURN, "GET", f"/cycles/{cycle}/returns/{organisation}", token=token
        )

    async def act_on_return(
        self, token: str, cycle: str, organisation: str, act: str, body: JsonObject
    ) -> None:
        await self.api.send(
            "POST", f"/cycles/{cycle}/returns/{organisation}/{act}", token=token, json=body
        )

    async def sign_off(self, token: str, cycle: str, organisation: str | None) -> SignedOff:
        return await self.api.fetch(
            _SIGNED,
            "POST",
            f"/cycles/{cycle}/returns/{organisation}/sign-off",
            token=token,
            json={"confirm": True},
        )

    async def questionnaires(self, token: str, cycle: str) -> list[QuestionnaireSummary]:
        return await self.api.fetch(
            _OWED, "GET", "/questionnaires", token=token, params={"cycle": cycle}
        )

    async def view(self, access: Access, questionnaire_id: str) -> QuestionnaireView:
        path, how = _opening(access, questionnaire_id)
        return await self.api.fetch(_VIEW, "GET", path, **how)

    async def save_answers(
        self, access: Access, questionnaire_id: str, version: int, answers: JsonObject
    ) -> None:
        path, how = _opening(access, questionnaire_id)
        body = {"version": version, "answers": answers}
        await self.api.send("PATCH", f"{path}/answers", json=body, **how)

    async def try_answers(self, definition: str, body: JsonObject) -> QuestionnaireView:
        return await self.api.fetch(_VIEW, "POST", f"/sandbox/{definition}", json=body)

    async def last_year(self, token: str, questionnaire_id: str) -> LastYearOffer:
        return await self.api.fetch(
            _LAST_YEAR, "GET", f"/questionnaires/{questionnaire_id}/last-year", token=token
        )

    async def bring_in_last_year(
        self, token: str, questionnaire_id: str, version: int, replace_answered: bool
    ) -> BroughtIn:
        return await self.api.fetch(
            _BROUGHT_IN,
            "POST",
            f"/questionnaires/{questionnaire_id}/last-year",
            token=token,
            json={"version": version, "replace_answered": replace_answered},
        )

    async def submit(self, token: str, questionnaire_id: str) -> None:
        await self.api.send("POST", f"/questionnaires/{questionnaire_id}/submit", token=token)

    async def history(self, token: str, questionnaire_id: str) -> list[JsonObject]:
        return await self.api.fetch(
            _OBJECTS, "GET", f"/questionnaires/{questionnaire_id}/history", token=token
        )

    async def withdraw_submission(self, token: str, questionnaire_id: str, reason: str) -> None:
        await self.api.send(
            "POST",
            f"/questionnaires/{questionnaire_id}/withdraw-submission",
            token=token,
            json={"reason": reason},
        )

    async def delegations(self, token: str, questionnaire_id: str) -> list[Delegation]:
        return await self.api.fetch(
            _DELEGATIONS, "GET", f"/questionnaires/{questionnaire_id}/delegations", token=token
        )

    async def delegate(
        self, token: str, questionnaire_id: str, email: str, message: str | None
    ) -> None:
        await self.api.send(
            "POST",
            f"/questionnaires/{questionnaire_id}/delegations",
            token=token,
            json={"email": email, "message": message},
        )

    async def act_on_delegation(
        self,
        token: str,
        questionnaire_id: str,
        delegation_id: str,
        act: str,
        body: JsonObject | None,
    ) -> None:
        await self.api.send(
            "POST",
            f"/questionnaires/{questionnaire_id}/delegations/{delegation_id}/{act}",
            token=token,
            json=body,
        )

    async def opened_by(self, delegate_token: str) -> str:
        opened = await self.api.fetch(
            _OBJECT,
            "GET",
            "/delegate/questionnaire",
            headers={"X-Delegate-Token": delegate_token},
        )
        return str(opened["id"])

    async def return_to_lead(
        self, delegate_token: str, questionnaire_id: str, comment: str | None
    ) -> QuestionnaireView:
        return await self.api.fetch(
            _VIEW,
            "POST",
            f"/delegate/questionnaires/{questionnaire_id}/return",
            headers={"X-Delegate-Token": delegate_token},
            json={"comment": comment},
        )

    async def definitions(self) -> list[Definition]:
        return await self.api.fetch(_DEFINITIONS, "GET", "/definitions")
