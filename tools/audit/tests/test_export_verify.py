"""Export real stores (PostgreSQL from the suite's fixtures) and verify the bundle offline;
then tamper with it in each way an auditor must notice, and see each caught precisely."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from csm_audit.bundle import MANIFEST, SIGNATURE, events_file, manifest_bytes, read_events
from csm_audit.cli import main
from csm_audit.verify import Check, verify_bundle
from csm_contracts.events import CycleSignedOff
from csm_kernel.database import migrate
from csm_kernel.hashing import GENESIS_HASH, canonical_json, chain_hash_of_canonical
from csm_kernel.signing import KeyRing, rotate
from csm_kernel.store import AppendContext, NewEvent
from csm_kernel.store.base import prepare_events
from csm_kernel.store.postgres import PostgresEventStore

pytestmark = pytest.mark.infra

CTX = AppendContext(actor="account-lead-1")
CYCLE = "2009-10"
# Numbers and text that a careless round trip would change (jsonb rewrites 1e+16).
ODD = {"big": 1e16, "small": 1.5e-7, "name": "Ysbyty Gwynedd — Ffôn ☎ “quoted”", "nl": "a\nb\\c"}


def ev(type_: str, key: str = "5A4", **data: Any) -> NewEvent:
    return NewEvent(type=type_, version=1, data=data, key=key)


@pytest.fixture
async def stores(infra: Any) -> AsyncIterator[dict[str, str]]:
    """Three service stores with histories; the questionnaire one ends with a sign-off that
    carries its questionnaires' stream heads."""
    dsns = {s: await infra.create_database(s[:4]) for s in ("registration", "questionnaire")}
    dsns["notification"] = await infra.create_database("noti")
    pools = {s: await asyncpg.create_pool(dsn, min_size=1, max_size=4) for s, dsn in dsns.items()}
    try:
        for pool in pools.values():
            await migrate(pool, "test", None)
        reg = PostgresEventStore(pools["registration"])
        await reg.append(
            "organisation-5A4", 0, [ev("registration.OrganisationRegistered", **ODD)], CTX
        )
        await reg.append("mapping-lead-5A4", 0, [ev("registration.MappingLeadAppointed")], CTX)
        await reg.append(
            "organisation-5A4", 1, [ev("registration.OrganisationRenamed", name="Anytown")], CTX
        )
        q = PostgresEventStore(pools["questionnaire"])
        await q.append("cycle-2009-10", 0, [ev("questionnaire.CycleOpened", cycle=CYCLE)], CTX)
        await q.append("cycle-2008-09", 0, [ev("questionnaire.CycleOpened", cycle="2008-09")], CTX)
        for n in (1, 2):
            await q.append(
                f"questionnaire-q{n}",
                0,
                [
                    ev("questionnaire.QuestionnaireIssued", cycle=CYCLE, n=n, **ODD),
                    ev("questionnaire.AnswersSaved", cycle=CYCLE, answers={"a": n}),
                    ev("questionnaire.ResponseSubmitted", cycle=CYCLE),
                ],
                CTX,
            )
        await q.append(
            "questionnaire-old", 0, [ev("questionnaire.QuestionnaireIssued", cycle="2008-09")], CTX
        )
        heads = {
            r["stream_id"]: r["hash"]
            for r in await pools["questionnaire"].fetch(
                "SELECT DISTINCT ON (stream_id) stream_id, hash FROM events "
                "WHERE stream_id LIKE 'questionnaire-q%' ORDER BY stream_id, stream_version DESC"
            )
        }
        signed = CycleSignedOff(
            organisation_id="5A4",
            cycle=CYCLE,
            signed_off_at=datetime(2010, 3, 31, 17, 0, tzinfo=UTC),
            signed_off_by="account-lead-1",
            questionnaires_submitted=2,
            stream_heads=heads,
        )
        await q.append(f"return-{CYCLE}-5A4", 0, [NewEvent.from_payload(signed)], CTX)
        # Later work on a signed-off questionnaire moves its head on past the sign-off.
        await q.append("questionnaire-q1", 3, [ev("questionnaire.AnswersSaved", cycle=CYCLE)], CTX)
        n = PostgresEventStore(pools["notification"])
        for i in range(5):
            await n.append(f"notification-{i}", 0, [ev("notification.NotificationSent", i=i)], CTX)
        yield dsns
    finally:
        await asyncio.gather(*(p.close() for p in pools.values()))


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    directory = tmp_path / "signing-keys"
    rotate(directory)
    return directory


def export(stores: dict[str, str], keys: Path, out: Path, *extra: str) -> Path:
    """Run `csm-audit export` as an auditor would, in its own process."""
    databases = [a for s, dsn in stores.items() for a in ("--database", f"{s}={dsn}")]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "csm_audit",
            "export",
            str(out),
            "--signing-key-dir",
            str(keys),
            *databases,
            *extra,
        ],
        check=True,
        capture_output=True,
    )
    return out


def failures(checks: list[Check]) -> list[str]:
    return [f"{c.name}: {f}" for c in checks for f in c.failures]


def lines(bundle: Path, store: str) -> list[dict[str, Any]]:
    return list(read_events(bundle, store))


def rewrite(bundle: Path, store: str, events: list[dict[str, Any]]) -> None:
    with gzip.open(bundle / events_file(store), "wt", encoding="utf-8") as f:
        for e in events:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")


@pytest.fixture
async def bundle(stores: dict[str, str], keys: Path, tmp_path: Path) -> Path:
    return await asyncio.to_thread(export, stores, keys, tmp_path / "bundle")


async def test_an_export_verifies_and_keeps_every_event_as_stored(bundle: Path) -> None:
    assert failures(verify_bundle(bundle)) == []
    manifest = json.loads((bundle / MANIFEST).read_bytes())
    assert (bundle / MANIFEST).read_bytes() == manifest_bytes(manifest)  # canonical
    assert manifest["scope"] == "all"
    reg = manifest["stores"]["registration"]
    assert reg["events"] == 3 and reg["first_position"] == 1 and reg["last_position"] == 3
    assert reg["stream_types"] == {
        "mapping-lead": {"streams": 1, "events": 1},
        "organisation": {"streams": 1, "events": 2},
    }
    assert reg["stream_heads"]["organisation-5A4"]["version"] == 2
    q = manifest["stores"]["questionnaire"]
    assert q["events"] == 11
    assert q["stream_heads"]["questionnaire-q1"]["version"] == 4
    assert manifest["stores"]["notification"]["events"] == 5
    first = lines(bundle, "registration")[0]
    assert first["data"] == ODD  # 1e+16 and non-ASCII text survive
    assert set(first) == {
        "position",
        "event_id",
        "stream_id",
        "stream_version",
        "type",
        "version",
        "occurred_at",
        "key",
        "correlation_id",
        "causation_id",
        "actor",
        "data",
        "prev_hash",
        "hash",
    }
    raw = gzip.decompress((bundle / events_file("registration")).read_bytes()).decode()
    assert '"big":1e+16' in raw and "Ysbyty Gwynedd — Ffôn ☎" in raw
    assert datetime.fromisoformat(first["occurred_at"]).utcoffset() is not None


async def test_the_command_prints_a_table_and_exits_0(
    bundle: Path, keys: Path, tmp_path: Path
) -> None:
    jwks = tmp_path / "published.json"
    jwks.write_text(json.dumps(KeyRing.load(keys).jwks()))
    done = subprocess.run(
        [sys.executable, "-m", "csm_audit", "verify", str(bundle), "--jwks", str(jwks)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout
    assert "manifest signature (--jwks)" in done.stdout
    assert "questionnaire: sign-offs" in done.stdout
    assert "All 16 checks passed." in done.stdout


async def test_a_cycle_export_holds_that_cycles_streams_whole(
    stores: dict[str, str], keys: Path, tmp_path: Path
) -> None:
    out = await asyncio.to_thread(
        export, stores, keys, tmp_path / "cycle", "--cycle", CYCLE, "--tar"
    )
    archive = out.with_name("cycle.tar")
    assert archive.is_file() and not out.exists()
    assert (
        subprocess.run(
            [sys.executable, "-m", "csm_audit", "verify", str(archive)], capture_output=True
        ).returncode
        == 0
    )
    unpacked = tmp_path / "unpacked"
    shutil.unpack_archive(archive, unpacked)
    streams = {e["stream_id"] for e in lines(unpacked / "cycle", "questionnaire")}
    assert streams == {
        "cycle-2009-10",
        "questionnaire-q1",
        "questionnaire-q2",
        "return-2009-10-5A4",
    }
    assert len(lines(unpacked / "cycle", "registration")) == 3  # all of registration


async def test_a_flipped_byte_is_caught(bundle: Path) -> None:
    path = bundle / events_file("notification")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    found = failures(verify_bundle(bundle))
    assert any(
        f.startswith("notification: file: events/notification.jsonl.gz: SHA-256 is") for f in found
    )
    assert any(f.startswith("notification: events:") for f in found)  # unreadable or miscounted


async def test_edited_event_data_is_caught_at_its_stream_and_version(bundle: Path) -> None:
    events = lines(bundle, "questionnaire")
    edited = next(
        e for e in events if e["stream_id"] == "questionnaire-q2" and e["stream_version"] == 2
    )
    edited["data"]["answers"]["a"] = 99
    rewrite(bundle, "questionnaire", events)
    found = failures(verify_bundle(bundle))
    assert (
        "questionnaire: hash chains: stream questionnaire-q2 version 2: "
        "content does not match its hash" in found
    )
    # The sign-off named q2's head, which can no longer be trusted.
    assert any("questionnaire-q2 cannot be checked: its chain is broken" in f for f in found)


async def test_a_dropped_event_is_caught(bundle: Path) -> None:
    events = lines(bundle, "registration")
    rewrite(
        bundle,
        "registration",
        [e for e in events if e["stream_version"] != 1 or e["stream_id"] != "organisation-5A4"],
    )
    found = failures(verify_bundle(bundle))
    assert (
        "registration: hash chains: stream organisation-5A4 version 1: version 1 is missing"
        in found
    )
    assert "registration: events: events is 2, the manifest says 3" in found


async def test_a_dropped_last_event_is_caught_by_the_heads(bundle: Path) -> None:
    events = lines(bundle, "questionnaire")
    rewrite(bundle, "questionnaire", events[:-1])  # q1's version 4: the chain alone cannot tell
    found = failures(verify_bundle(bundle))
    assert any(
        f.startswith("questionnaire: stream heads: stream questionnaire-q1 ends at version 3")
        and "the manifest says version 4" in f
        for f in found
    )


async def test_a_sign_off_whose_heads_do_not_match_is_caught(bundle: Path) -> None:
    """Drop q2's submission before the sign-off: q2's own chain still holds (its last event
    went), but the sign-off recorded a head the bundle no longer reaches."""
    events = lines(bundle, "questionnaire")
    kept = [
        e for e in events if not (e["stream_id"] == "questionnaire-q2" and e["stream_version"] == 3)
    ]
    rewrite(bundle, "questionnaire", kept)
    found = failures(verify_bundle(bundle))
    assert any(
        f.startswith(f"questionnaire: sign-offs: sign-off return-{CYCLE}-5A4 version 1 (position")
        and "records questionnaire-q2 at" in f
        and "stood at version 2" in f
        for f in found
    ), found


async def test_a_changed_manifest_fails_its_signature(bundle: Path) -> None:
    manifest = json.loads((bundle / MANIFEST).read_bytes())
    manifest["stores"]["notification"]["events"] = 4
    (bundle / MANIFEST).write_bytes(manifest_bytes(manifest))
    found = failures(verify_bundle(bundle))
    assert any(
        f.startswith(
            "manifest signature (bundle's jwks.json): manifest.json is not what was signed"
        )
        for f in found
    )


async def test_a_manifest_signed_by_another_key_is_caught(bundle: Path, keys: Path) -> None:
    stranger = KeyRing.generate()
    body = (bundle / MANIFEST).read_bytes()
    (bundle / SIGNATURE).write_text(stranger.sign(body))
    found = failures(verify_bundle(bundle))
    assert any(f"the key {stranger.active_kid} is not published" in f for f in found)
    # A forger who also swaps jwks.json fools the bundle's own keys, not the published ones.
    (bundle / "jwks.json").write_text(canonical_json(stranger.jwks()))
    published = KeyRing.load(keys).jwks()
    found = failures(verify_bundle(bundle, published))
    assert found == [
        f"manifest signature (--jwks): manifest.json is not what was signed: "
        f"the key {stranger.active_kid} is not published"
    ]


def test_export_without_a_signing_key_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(tmp_path / "b"), "--signing-key-dir", str(tmp_path / "none")])
    assert exit_.value.code == 1
    assert "no signing key in" in capsys.readouterr().err


async def test_json_text_with_line_breaks_stays_one_line_and_verifies(
    infra: Any, keys: Path, tmp_path: Path
) -> None:
    """The json column keeps whatever text was written; insignificant line breaks in it (the
    kernel never writes any, another writer might) must not split an event across lines."""
    dsns = {s: await infra.create_database(s[:4]) for s in ("registration", "questionnaire")}
    dsns["notification"] = await infra.create_database("noti")
    for dsn in dsns.values():
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
        await migrate(pool, "test", None)
        await pool.close()
    at = datetime(2010, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    [p] = prepare_events(
        "organisation-X", 0, [ev("registration.OrganisationRegistered", a=1)], CTX, at
    )
    conn = await asyncpg.connect(dsns["registration"])
    try:
        await conn.execute(
            "INSERT INTO events (event_id, stream_id, stream_version, type, version, occurred_at, "
            "key, correlation_id, causation_id, actor, data, prev_hash, hash) "
            "VALUES ($1, 'organisation-X', 1, $2, 1, $3, '5A4', $4, NULL, $5, $6, $7, $8)",
            p.event_id,
            p.event.type,
            at,
            CTX.correlation_id,
            CTX.actor,
            '{\n  "a":\n 1\n}',
            GENESIS_HASH,
            chain_hash_of_canonical(GENESIS_HASH, p.canonical),
        )
    finally:
        await conn.close()
    out = await asyncio.to_thread(export, dsns, keys, tmp_path / "b")
    assert lines(out, "registration")[0]["data"] == {"a": 1}
    assert failures(verify_bundle(out)) == []


async def test_parallel_verification_finds_what_one_process_finds(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = lines(bundle, "questionnaire")
    events[3]["actor"] = "someone-else"
    rewrite(bundle, "questionnaire", events)
    monkeypatch.setattr("csm_audit.verify._PARALLEL_FROM", 0)
    read: list[int] = []
    together = await asyncio.to_thread(verify_bundle, bundle, None, None, read.append, 3)
    assert sum(read) == 3 + 11 + 5  # every event reported by the workers' progress
    alone = verify_bundle(bundle)
    assert [(c.name, c.failures) for c in together] == [(c.name, c.failures) for c in alone]
    assert any("content does not match its hash" in f for f in failures(together))


async def test_keys_that_are_not_a_jwk_set_fail_the_check(bundle: Path) -> None:
    (bundle / "jwks.json").write_text('[{"kty": "OKP"}]')
    found = failures(verify_bundle(bundle, {"keys": [{"kid": "x", "kty": "OKP", "x": 5}]}))
    assert "manifest signature (bundle's jwks.json): the keys are not a JWK Set " in found[0]
    assert found[1].startswith("manifest signature (--jwks): manifest.json is not what was signed")


async def test_what_export_writes_is_what_replay_reads(bundle: Path) -> None:
    # The replay (reporting's projections) opens the exporter's bundle, signature and file
    # hashes checked, and reads every event of every store, in order, as stored.
    from csm_audit.replay_bundle import open_bundle

    opened = open_bundle(bundle)
    manifest = json.loads((bundle / MANIFEST).read_bytes())
    assert opened.signed_by is not None
    for store, entry in manifest["stores"].items():
        events = list(opened.events(store))
        assert len(events) == entry["events"], store
        assert [e.position for e in events] == [line["position"] for line in lines(bundle, store)]
        assert [e.hash for e in events] == [line["hash"] for line in lines(bundle, store)]
