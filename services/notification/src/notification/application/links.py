"""What a template needs beyond the stored context: links, made when the email is written.

Links with tokens (a new account's set-up, a forgotten password's reset, a delegate's
questionnaire) are derived from the ids
in the context with the link key (`csm_kernel.links`), so the stored intent, the events and the
logs never hold a working link.
"""

from __future__ import annotations

from typing import Any

from csm_contracts.events.accounts import PASSWORD_RESET_LINK
from csm_kernel.links import LinkTokens
from csm_kernel.settings import ServiceSettings

from ..domain.notification import Kind


class LinkKeyMissing(RuntimeError):
    """A link needs the link key and this service has none configured."""


def complete_context(
    kind: str, context: dict[str, Any], settings: ServiceSettings, tokens: LinkTokens | None
) -> dict[str, Any]:
    """The template context of a stored intent: its context plus `link` and `portal_url`."""
    portal = settings.portal_url.rstrip("/")
    out = {**context, "portal_url": portal}

    def need() -> LinkTokens:
        if tokens is None:
            raise LinkKeyMissing("CSM_LINK_KEY_FILE is not set: links cannot be made")
        return tokens

    if kind == Kind.ACCOUNT_SET_UP:
        out["link"] = f"{portal}/account/set-up?token={need().set_up_token(context['setup_id'])}"
    elif kind == Kind.PASSWORD_RESET:
        token = need().token(PASSWORD_RESET_LINK, context["reset_id"])
        out["link"] = f"{portal}/account/reset-password?token={token}"
    elif kind == Kind.PASSWORD_CHANGED:
        out["link"] = f"{portal}/forgotten-password"
    elif kind in (Kind.DELEGATION_INVITATION, Kind.QUESTIONNAIRE_SENT_BACK):
        token = need().delegation_token(context["questionnaire_id"], context["delegation_id"])
        out["link"] = f"{portal}/delegate/{token}"
    elif kind == Kind.QUESTIONNAIRE_RETURNED:
        out["link"] = f"{portal}/questionnaires/{context['questionnaire_id']}"
    elif kind in (Kind.RETURN_REOPENED, Kind.SIGN_OFF_CONFIRMATION, Kind.EXTENSION_GRANTED):
        out["link"] = f"{portal}/returns/{context['cycle']}"
    return out
