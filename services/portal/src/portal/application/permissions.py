"""What each role may do on the portal's pages (the services check every call again: these
only decide which pages and buttons to offer)."""

from __future__ import annotations

from csm_contracts.auth import Role
from csm_kernel.auth import Principal

from .models import ReturnStatus


def answers_questionnaires(principal: Principal) -> bool:
    """Mapping leads and group owners answer their questionnaires (their dashboard)."""
    return principal.has(Role.MAPPING_LEAD, Role.GROUP_OWNER)


def reads_nationally(principal: Principal) -> bool:
    """The national team, auditors and regulators read across organisations."""
    return principal.has(Role.NATIONAL_ADMIN, Role.AUDITOR, Role.REGULATOR)


def may_define_groups(principal: Principal) -> bool:
    """An organisation's lead, or the national team, defines service groups; a group owner
    (or a reader) only sees them."""
    return principal.has(Role.MAPPING_LEAD) or principal.has(Role.NATIONAL_ADMIN)


def may_sign_off(principal: Principal, status: ReturnStatus) -> bool:
    """Only the mapping lead signs a return off, and only once everything is submitted."""
    return status.can_sign_off and principal.has(Role.MAPPING_LEAD)


def home_of(principal: Principal) -> str | None:
    """Where the start page sends a signed-in person: those who answer to their dashboard,
    the national team to its pages, regulators and auditors to the pages made for them;
    anyone else stays on the start page."""
    if answers_questionnaires(principal):
        return "/dashboard"
    if principal.has(Role.NATIONAL_ADMIN):
        return "/national"
    if principal.has(Role.REGULATOR):
        return "/regulator"
    if principal.has(Role.AUDITOR):
        return "/auditor"
    return None
