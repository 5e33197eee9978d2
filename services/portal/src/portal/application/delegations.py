"""What a lead may do with a delegation, and what each act sends and says afterwards."""

from __future__ import annotations

from dataclasses import dataclass

from .models import JsonObject

#: What a lead writes when sending a questionnaire back without a comment of their own.
DEFAULT_SEND_BACK = "Please look at this again"


@dataclass(frozen=True)
class DelegationAct:
    """The body the questionnaire service wants for the act, and the page's `done` word."""

    body: JsonObject | None
    done: str


def delegation_act(act: str, *, reason: str, comment: str) -> DelegationAct | None:
    """Revoke the link (with an optional reason), accept what came back, or send it back (with
    a comment); None for any other act, which is no page at all."""
    if act == "revoke":
        return DelegationAct({"reason": reason or None}, "revoked")
    if act == "send-back":
        return DelegationAct({"comment": comment or DEFAULT_SEND_BACK}, "sent-back")
    if act == "accept":
        return DelegationAct(None, "accepted")
    return None
