"""The registration service's application, wired: what `bootstrap` builds once at start and
the entrypoints (HTTP routes, consumers, the CLI) reach through typed dependencies."""

from __future__ import annotations

from dataclasses import dataclass

from .accounts import Accounts
from .national_accounts import NationalAccounts
from .people import People
from .ports import Directory, OrganisationRepository
from .sign_in import SignIn
from .way_back_in import WayBackIn


@dataclass(frozen=True)
class Registration:
    """The use cases' ports and services, each built once."""

    organisations: OrganisationRepository
    directory: Directory
    accounts: Accounts
    #: The national team's own accounts, listed and disabled.
    national_accounts: NationalAccounts
    #: Who accounts are, as far as a caller may know (names in histories).
    people: People
    #: None when no signing key is configured (sign-in is then refused).
    sign_in: SignIn | None
    #: Reset links, set-up links sent again, and what a link is before it is used.
    way_back_in: WayBackIn
