"""Where export looks for the databases and the signing key when not told."""

from __future__ import annotations

from pathlib import Path

import pytest

from csm_audit.cli import main
from csm_audit.export_cmd import _dsns, key_dir


def test_defaults_are_the_make_run_stacks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CSM_PG_PORT", "6543")
    monkeypatch.setenv("CSM_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("CSM_SIGNING_KEY_DIR", raising=False)
    assert _dsns([]) == {
        s: f"postgresql://postgres@127.0.0.1:6543/{s}"
        for s in ("registration", "questionnaire", "notification")
    }
    assert key_dir(None) == tmp_path / "signing-keys"
    monkeypatch.setenv("CSM_SIGNING_KEY_DIR", str(tmp_path / "keys"))
    assert key_dir(None) == tmp_path / "keys"
    assert key_dir(tmp_path / "given") == tmp_path / "given"


def test_a_database_override_names_a_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSM_PG_PORT", "6543")
    assert _dsns(["notification=postgresql://elsewhere/n"])["notification"] == (
        "postgresql://elsewhere/n"
    )
    with pytest.raises(SystemExit, match="STORE=DSN with STORE one of"):
        _dsns(["reporting=postgresql://x/r"])


def test_a_cycle_must_look_like_one(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["export", "b", "--cycle", "2009"])
    assert "'2009' is not a cycle like 2009-10" in capsys.readouterr().err
