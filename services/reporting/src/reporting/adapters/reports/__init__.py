"""Every report reporting serves: each module here defines `REPORTS` (a list of `Report`)."""

from __future__ import annotations

import importlib
import pkgutil

from ...application.reports import Report, Reports


def _discover() -> list[Report]:
    found: list[Report] = []
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        found.extend(importlib.import_module(f"{__name__}.{module}").REPORTS)
    return found


REPORTS = Reports(_discover())
