"""`make rehearsal SCALE=small` inside `make test`: three replicas of every service, faults
while a cycle is driven through the APIs, and every guarantee checked (see rehearsal.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rehearsal import rehearse


@pytest.mark.timeout(1500)
def test_the_national_shape_keeps_its_guarantees_through_kills_and_restarts(
    tmp_path: Path,
) -> None:
    checks, figures = rehearse("small", tmp_path)
    print(figures)
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.holds]
    assert not failed, "\n".join(failed) + "\n" + figures
