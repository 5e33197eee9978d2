"""Bulk import of organisations from CSV (national team): read, plan, append all or nothing.

A file with any bad row is refused whole (422 listing every problem with its line number) and
nothing is written. A good file is appended in one transaction: every organisation's events or
none. Rows equal to the current state append nothing, so importing the same file twice
changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from csm_kernel.errors import ConcurrencyConflict, Conflict
from csm_kernel.observability import get_logger
from csm_kernel.store import AppendContext

from ..domain import organisation_import as csv_import
from .organisations import OrganisationRepository

log = get_logger(__name__)

#: Largest file accepted (bytes).
MAX_IMPORT_BYTES = 5 * 1024 * 1024
#: Most organisations in one file.
MAX_IMPORT_ROWS = 20_000


@dataclass(frozen=True)
class ImportResult:
    """What an import did (or, for a dry run, would do)."""

    rows: int
    registered: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    events: int = 0
    dry_run: bool = False


async def import_organisations(
    repo: OrganisationRepository,
    data: bytes,
    context: AppendContext,
    *,
    dry_run: bool = False,
    max_rows: int = MAX_IMPORT_ROWS,
) -> ImportResult:
    """Import a CSV file of organisations (see `registration.domain.organisation_import`).

    Raises `BadImport` (422, every problem with its line) and writes nothing if any row is
    bad; `Conflict` (409) if an organisation it changes was changed by someone else meanwhile
    (nothing is written; import the file again). With `dry_run`, decides but writes nothing."""
    parsed = csv_import.parse(data, max_rows=max_rows)
    current = await repo.load_many(csv_import.referenced_codes(parsed))
    plan = csv_import.plan(parsed, current)
    if plan.changes and not dry_run:
        try:
            await repo.save(plan.changes, context)
        except ConcurrencyConflict as exc:
            code = exc.stream_id.removeprefix("organisation-")
            raise Conflict(
                f"organisation {code} changed while the file was being imported, so nothing "
                "was imported: import the file again"
            ) from None
    result = ImportResult(
        rows=len(parsed.rows),
        registered=plan.registered,
        changed=plan.changed,
        unchanged=plan.unchanged,
        events=plan.event_count,
        dry_run=dry_run,
    )
    log.info(
        "organisations imported" if not dry_run else "organisation import checked",
        rows=result.rows,
        registered=len(result.registered),
        changed=len(result.changed),
        unchanged=len(result.unchanged),
        events=result.events,
    )
    return result
