"""Every projection, fed one long mixed history live (ranges of 7), then rebuilt from scratch
beside the live tables and swapped in: the same rows, table for table."""

from __future__ import annotations

from progress_history import directory_history, progress_history, snapshot
from reporting.adapters.projections import PROJECTIONS
from responses_history import build


async def test_a_rebuild_from_scratch_equals_the_live_model_row_for_row(reporting_db) -> None:
    h = reporting_db.history
    build(h)
    progress_history(h)
    directory_history(h)
    events = list(h.envelopes)
    await reporting_db.record()
    live = {p.name: await snapshot(reporting_db.pool, p.schema, p.tables) for p in PROJECTIONS}
    # Each projection holds something, or the comparison below would prove nothing.
    for name, tables in live.items():
        assert any(tables.values()), f"{name} is empty"
    for projection in PROJECTIONS:
        await reporting_db.projector.rebuild(projection)
    rebuilt = {p.name: await snapshot(reporting_db.pool, p.schema, p.tables) for p in PROJECTIONS}
    assert rebuilt == live
    # Replaying the whole history again changes nothing either.
    assert await reporting_db.record(events) == 0
    again = {p.name: await snapshot(reporting_db.pool, p.schema, p.tables) for p in PROJECTIONS}
    assert again == live
