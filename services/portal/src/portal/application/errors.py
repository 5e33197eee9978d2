"""The two ways a call to a service can fail, as the pages see them.

The HTTP adapters raise them; the web layer maps them to pages in one place
(`entrypoints/web/errors.py`): the service could not be reached or failed
(`ServiceUnavailable`, naming it), or it refused the request (`ApiError`, with the status and
the `{"error", "details"}` body every service returns)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: How each service is named to people when it is down.
SERVICE_NAMES = {
    "registration": "registration and sign-in service",
    "questionnaire": "questionnaire service",
    "reporting": "reporting service",
    "notification": "notification service",
}

#: One entry of a refusal's `details` (`{"field", "reason", ...}`), as the service sent it.
Detail = dict[str, object]


class ServiceUnavailable(Exception):
    """A service did not answer, or answered with a server error."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason

    @property
    def label(self) -> str:
        return SERVICE_NAMES.get(self.service, f"{self.service} service")


@dataclass
class ApiError(Exception):
    """A service refused a request (4xx): its status, message and per-field details."""

    service: str
    status: int
    message: str
    details: list[Detail] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.service} {self.status}: {self.message}"
