"""Poison items in background loops: an item that keeps failing for a reason of its own is set
aside (logged and counted) instead of being retried forever and holding the others up.

A failure is *transient* when retrying can cure it without anyone changing the item: the
database or broker went away (the loop's own resilience retries those, without limit), a
deadlock or a serialization failure. Anything else (a value PostgreSQL refuses, a
bug) is the item's: after `attempts` such failures in a row the item is poison.
"""

from __future__ import annotations

from collections.abc import Hashable

from . import database
from .observability import get_logger

log = get_logger(__name__)

#: Failures that say nothing about the item (`csm_kernel.database`): retried without limit.
TRANSIENT_ERRORS = database.TRANSIENT_ERRORS
is_transient = database.is_transient


class PoisonItems:
    """Counts each item's failures in a row; `failed` says when to give the item up."""

    def __init__(self, loop: str, attempts: int = 3) -> None:
        self.loop = loop
        self.attempts = attempts
        #: Items given up so far (for status pages and tests).
        self.skipped = 0
        self._failures: dict[Hashable, int] = {}

    def failed(self, item: Hashable, exc: BaseException) -> bool:
        """Record a failure of `item`; True when it is now poison (and so was logged and
        counted, and its count forgotten): the caller drops it. Transient failures never
        make an item poison."""
        if is_transient(exc):
            return False
        count = self._failures.get(item, 0) + 1
        if count < self.attempts:
            self._failures[item] = count
            return False
        self._failures.pop(item, None)
        self.skipped += 1
        log.error(
            "poison item set aside",
            loop=self.loop,
            item=str(item)[:200],
            attempts=count,
            error=f"{type(exc).__name__}: {str(exc)[:500]}",
            skipped=self.skipped,
        )
        return True

    def succeeded(self, item: Hashable) -> None:
        """`item` went through: its failures are forgotten."""
        self._failures.pop(item, None)
