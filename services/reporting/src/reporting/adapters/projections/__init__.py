"""Every projection reporting keeps: each module here defines `PROJECTION`."""

from __future__ import annotations

import importlib
import pkgutil

from ...application.projection import Projection


def _discover() -> tuple[Projection, ...]:
    found = []
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        found.append(importlib.import_module(f"{__name__}.{module}").PROJECTION)
    return tuple(found)


PROJECTIONS: tuple[Projection, ...] = _discover()
