"""What the portal reads from its environment (prefix `CSM_`): where each service's API is,
where its front-end assets are, how it is reached (HSTS) and the embedded stack's mailbox."""

from __future__ import annotations

import os
from pathlib import Path

from csm_kernel.settings import ServiceSettings

#: services/portal, where `npm ci` puts node_modules (a source checkout; see assets_dir).
PORTAL_ROOT = Path(__file__).resolve().parents[2]


class PortalSettings(ServiceSettings):
    registration_url: str = "http://127.0.0.1:8001"
    questionnaire_url: str = "http://127.0.0.1:8002"
    reporting_url: str = "http://127.0.0.1:8003"
    notification_url: str = "http://127.0.0.1:8004"
    #: Seconds to wait for a service before saying it is unavailable.
    api_timeout: float = 15.0
    #: Where `npm ci --prefix services/portal` installed govuk-frontend and htmx.
    assets_dir: Path = PORTAL_ROOT / "node_modules"
    #: Secure cookies are refused over plain http by some clients; only a test turns it off.
    cookie_secure: bool = True
    #: Send Strict-Transport-Security on every response, not only those whose request came
    #: over https: for a TLS-terminating proxy that does not say X-Forwarded-Proto (or that
    #: uvicorn is not told to trust through FORWARDED_ALLOW_IPS).
    hsts: bool = False
    #: The mailbox page (`/mailbox`: every email the SMTP sink kept, set-up and delegation
    #: links included) for trying the service on one machine. Off unless turned on, as
    #: `make run` does; even then only a signed-in national admin sees it.
    mailbox_enabled: bool = False
    #: The SMTP sink's directory (the embedded stack sets it).
    mailbox_dir: Path | None = None
    #: With mailbox_dir unset, use the embedded stack's var/mail when it exists.
    mailbox_auto: bool = True
    #: Who runs the service, as the contact, accessibility and privacy pages name them. The
    #: defaults are placeholders (a reserved drama telephone number, an example.gov.uk
    #: address): a deployment sets its own.
    contact_team: str = "National mapping team"
    contact_email: str = "mapping-team@example.gov.uk"
    contact_phone: str = "020 7946 0000"
    contact_hours: str = "Monday to Friday, 9am to 5pm (except bank holidays)"
    #: Where the beta banner's feedback link goes: a survey's address, or the contact page.
    feedback_url: str = "/contact"

    def mailbox(self) -> Path | None:
        """The mailbox directory to show, if the page is turned on and there is one."""
        if not self.mailbox_enabled:
            return None
        if self.mailbox_dir is not None:
            return self.mailbox_dir
        if not self.mailbox_auto:
            return None
        # `make run` starts the portal from the repository with the stack's data under
        # CSM_VAR_DIR (default var/): its SMTP sink keeps mail in var/mail.
        guess = Path(os.environ.get("CSM_VAR_DIR", "var")) / "mail"
        return guess if guess.is_dir() else None
