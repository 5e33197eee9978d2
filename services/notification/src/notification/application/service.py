"""The notification service's use cases, wired once (by `bootstrap`) and handed to the
entrypoints."""

from __future__ import annotations

from dataclasses import dataclass

from .bulletins import Bulletins
from .deliveries import Deliveries
from .reminders import Reminders
from .sender import Sender


@dataclass(frozen=True)
class NotificationService:
    """What the HTTP API and the background loops use."""

    sender: Sender
    reminders: Reminders
    bulletins: Bulletins
    deliveries: Deliveries
