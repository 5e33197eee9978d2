"""CPU used by each part of the rehearsal's deployment, read from /proc, so the capacity model
(docs/capacity.md) can be checked against the deployment's own shape.

A process's CPU is its user + system time plus that of the children it has reaped (a
postmaster reaps its backends); a process killed or restarted has its last reading kept, taken
just before the signal, so the totals cover every life of every replica."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces; every field after it follows the last ')'.
    return raw.rsplit(")", 1)[1].split()


def process_cpu(pid: int) -> float:
    """Seconds of CPU of `pid` and the children it has reaped (0 once it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # utime, stime, cutime, cstime are fields 14-17 of /proc/pid/stat (1-based); the list
    # starts at field 3.
    return sum(int(fields[i]) for i in range(11, 15)) / _TICK


def children(pid: int) -> list[int]:
    """Live descendants of `pid`."""
    parent_of: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                parent_of[int(entry.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        here = frontier.pop()
        kids = [p for p, parent in parent_of.items() if parent == here]
        found.extend(kids)
        frontier.extend(kids)
    return found


def tree_cpu(pid: int | None) -> float:
    """Seconds of CPU of `pid`, its reaped children and its live descendants."""
    if pid is None:
        return 0.0
    return process_cpu(pid) + sum(process_cpu(p) for p in children(pid))


@dataclass
class CpuAccount:
    """CPU of one part (a service's replicas, PostgreSQL, the broker) across its processes'
    lives: `retire` before a process is signalled, `total` with the live ones added."""

    #: Seconds of the processes already stopped or killed.
    retired: float = 0.0
    #: Seconds spent starting up (from the start until ready), every life.
    starting: float = 0.0
    starts: int = 0

    def retire(self, pid: int | None, reading: float | None = None) -> None:
        """The last reading of a process about to be signalled (or given)."""
        if pid is not None:
            self.retired += tree_cpu(pid) if reading is None else reading

    def started(self, pid: int) -> None:
        """A process has just become ready: its CPU so far is start-up cost."""
        self.starting += tree_cpu(pid)
        self.starts += 1

    def total(self, live: Iterable[int | None]) -> float:
        return self.retired + sum(tree_cpu(pid) for pid in live)
