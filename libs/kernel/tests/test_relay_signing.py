"""The relay's signing hook: a service's signer puts `ce_signature` on the messages it chooses,
over the exact value bytes, with the key active when each message is sent."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from test_relay import _fill

from csm_kernel import signing
from csm_kernel.relay import SIGNATURE_HEADER, OutboxRelay, sign_topics
from csm_kernel.signing import KeyDirectory, KeyRing, SignatureInvalid, verify_detached
from csm_kernel.store.postgres import PostgresEventStore
from kafka_helpers import headers_of, read_topic, unique_topic


def test_sign_topics_signs_only_the_topics_named() -> None:
    ring = KeyRing.generate()
    signer = sign_topics(["public"], ring.sign)
    signature = signer("public", b'{"a":1}')
    assert signature is not None and ring.verify(signature, b'{"a":1}') == ring.active_kid
    assert signer("private", b'{"a":1}') is None


def test_a_key_directory_follows_a_rotation_made_by_another_process(tmp_path: Path) -> None:
    keys = KeyDirectory(tmp_path / "keys")
    first = keys.ring()  # a fresh directory: its first key is made
    assert keys.ring() is first  # nothing changed: not read again
    new_kid = signing.rotate(tmp_path / "keys")  # as `signing-keys rotate` would, elsewhere
    second = keys.ring()
    assert second.active_kid == new_kid != first.active_kid
    assert {k["kid"] for k in second.jwks()["keys"]} == {first.active_kid, new_kid}
    signing.retire(tmp_path / "keys", first.active_kid)
    assert [k["kid"] for k in keys.ring().jwks()["keys"]] == [new_kid]


async def test_the_relay_signs_what_its_signer_asks_for_with_the_key_active_when_sent(
    pg_pool: asyncpg.Pool, infra, tmp_path: Path
) -> None:
    store = PostgresEventStore(pg_pool)
    ids = await _fill(store, 6)
    public, private = unique_topic("signed"), unique_topic("unsigned")
    keys = KeyDirectory(tmp_path / "keys")
    relay = OutboxRelay(
        store,
        infra.bootstrap,
        route=lambda _e: [private, public],
        signer=sign_topics([public], lambda value: keys.ring().sign(value)),
    )
    await relay.start()
    try:
        assert await relay.publish_pending() == 6
        old_kid = keys.ring().active_kid
        new_kid = signing.rotate(tmp_path / "keys")
        events = await store.read_all(0, 100)
        start = events[3].position
        assert start is not None
        assert await relay.republish(start) == 2  # the last two again, after the rotation
    finally:
        await relay.stop()

    jwks = keys.ring().jwks()  # the old key stays published beside the new one
    signed = await read_topic(infra.bootstrap, public, 8)
    assert len(signed) == 8
    kids = []
    for record in signed:
        headers = headers_of(record)
        kid = verify_detached(headers[SIGNATURE_HEADER], record.value, jwks)
        kids.append((headers["ce_id"], kid))
        with pytest.raises(SignatureInvalid):
            verify_detached(headers[SIGNATURE_HEADER], record.value + b" ", jwks)
    assert sorted(kids) == sorted([(i, old_kid) for i in ids] + [(i, new_kid) for i in ids[4:]])
    unsigned = await read_topic(infra.bootstrap, private, 8)
    assert len(unsigned) == 8
    assert not [r for r in unsigned if SIGNATURE_HEADER in headers_of(r)]


def test_processes_starting_together_on_a_fresh_directory_make_one_key(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        rings = list(pool.map(lambda _: KeyRing.ensure(tmp_path / "keys"), range(16)))
    assert len({ring.active_kid for ring in rings}) == 1
    assert len(list((tmp_path / "keys").glob("*.pem"))) == 2  # one private, one public
