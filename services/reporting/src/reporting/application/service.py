"""The reporting service's use cases together, as `bootstrap` wires them and the entrypoints
reach them."""

from __future__ import annotations

from dataclasses import dataclass

from .journalling import Journalling
from .participation import Participation
from .ports import Organisations, Projections
from .projection_admin import ProjectionAdmin
from .report_queries import ReportQueries


@dataclass(frozen=True)
class Reporting:
    """What the HTTP routes, the consumers and the projector loop use."""

    #: Reading reports (live or as at a moment), and the catalogue of them.
    reports: ReportQueries
    #: The projections' lag, and rebuilds asked for over HTTP.
    admin: ProjectionAdmin
    #: Participation in a cycle, filtered, sorted and paged (the national team's page).
    participation: Participation
    #: The organisations read model as a plain list.
    organisations: Organisations
    #: Consumed events into the journal.
    journalling: Journalling
    #: The projector: keeps every projection live (a background loop).
    projector: Projections
