"""argon2id off the event loop, a bounded number at a time.

argon2-cffi's defaults take 64 MiB and four threads for each hash or verification (~40 ms of
wall time, ~120-170 ms of CPU on the 2-core machines). Left to `asyncio.to_thread`'s default
pool (six threads on two cores), a burst of sign-ins at nine in the morning would verify six
at once: 384 MiB on top of the service, past the 512 MiB a registration pod may use
(deploy/k8s), so the pod would be killed mid-burst. A few slots hold the memory bound and
queue the rest for a few tens of milliseconds (docs/capacity.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Concurrent argon2 operations per process unless configured
#: (`CSM_PASSWORD_HASHING_CONCURRENCY`).
DEFAULT_SLOTS = 2


class HashingSlots:
    """Runs password hashing in worker threads, at most `slots` at once in this process."""

    def __init__(self, slots: int = DEFAULT_SLOTS) -> None:
        self.slots = slots
        self._free = asyncio.Semaphore(slots)
        self.busy = 0
        #: The most ever run at once (the tests' and the operators' check of the bound).
        self.most_at_once = 0

    async def run(self, work: Callable[..., T], *args: str) -> T:
        async with self._free:
            self.busy += 1
            self.most_at_once = max(self.most_at_once, self.busy)
            try:
                return await asyncio.to_thread(work, *args)
            finally:
                self.busy -= 1
