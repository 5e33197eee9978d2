"""`make rehearsal-upgrade` inside `make test`: AnswersSaved v2 rolled out one replica at a
time beside replicas of the release before it (see rehearsal_upgrade.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rehearsal_checks import table
from rehearsal_upgrade import rehearse_upgrade


@pytest.mark.timeout(900)
def test_a_new_event_version_rolls_out_beside_the_old_release(tmp_path: Path) -> None:
    checks, figures = rehearse_upgrade(tmp_path)
    print(table(checks))
    print(figures)
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.holds]
    assert not failed, "\n".join(failed) + "\n" + figures
