"""What registration reads from its environment beyond every service's settings (prefix
`CSM_`): how its sessions and emailed links behave."""

from __future__ import annotations

from pydantic import Field

from csm_kernel.settings import ServiceSettings


class RegistrationSettings(ServiceSettings):
    #: `CSM_REFRESH_GRACE_SECONDS`: a refresh token presented again this soon after it was
    #: exchanged is the same browser racing itself and gets the session's current tokens;
    #: later it is reuse and ends the session. 0 turns the grace off.
    refresh_grace_seconds: float = Field(default=10.0, ge=0, le=60)
    #: `CSM_PASSWORD_RESET_MINUTES`: how long a forgotten password's link works.
    password_reset_minutes: int = Field(default=60, ge=5, le=24 * 60)
    #: `CSM_PASSWORD_HASHING_CONCURRENCY`: argon2 hashes and verifications run at once in one
    #: process, 64 MiB each (`application.hashing_slots`).
    password_hashing_concurrency: int = Field(default=2, ge=1, le=16)

    @classmethod
    def of(cls, settings: ServiceSettings) -> RegistrationSettings:
        """These settings from a service's (the fields here that it lacks from the
        environment)."""
        if isinstance(settings, cls):
            return settings
        return cls(**settings.model_dump())
