"""Poison items: failures of their own set an item aside after a few tries in a row; a lost
connection or a deadlock never does; a success forgets the failures."""

from __future__ import annotations

import asyncpg

from csm_kernel.poison import PoisonItems, is_transient


def test_an_item_is_poison_after_its_own_failures_in_a_row() -> None:
    items = PoisonItems("test loop", attempts=3)
    bad = asyncpg.exceptions.DataError("value out of int32 range")
    assert not items.failed("a", bad)
    assert not items.failed("a", bad)
    assert items.failed("a", bad)
    assert items.skipped == 1
    # Counted afresh after that, and per item.
    assert not items.failed("a", bad)
    assert not items.failed("b", bad)
    items.succeeded("b")
    assert not items.failed("b", bad) and not items.failed("b", bad)
    assert items.failed("b", bad) and items.skipped == 2


def test_transient_failures_never_make_an_item_poison() -> None:
    items = PoisonItems("test loop", attempts=1)
    for exc in (
        ConnectionResetError(),
        TimeoutError(),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.exceptions.ConnectionDoesNotExistError(),
        asyncpg.exceptions.AdminShutdownError(),
        asyncpg.exceptions.DeadlockDetectedError(),
        asyncpg.exceptions.SerializationError(),
    ):
        assert is_transient(exc), exc
        assert not items.failed("a", exc)
    assert not is_transient(TypeError("Integer exceeds 64-bit range"))
    # A statement timeout may be the item's own size: it counts against the item.
    assert not is_transient(asyncpg.exceptions.QueryCanceledError())
    assert not is_transient(asyncpg.exceptions.UntranslatableCharacterError())
    assert items.skipped == 0
