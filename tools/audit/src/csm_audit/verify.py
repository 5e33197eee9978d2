"""`csm-audit verify`: check a bundle offline (no database, no network).

What is checked, each as one line of the report:

- the manifest's detached JWS against the bundle's own `jwks.json`, and against keys the
  auditor obtained elsewhere (`--jwks`, from questionnaire's `/.well-known/jwks.json`): a
  bundle re-signed with a stranger's key verifies against its own keys but not those;
- each store's file: SHA-256 and size as the manifest records them;
- each store's events: count, first and last position, positions in increasing order;
- every stream's hash chain (csm_kernel.verify's `check_link`, event by event);
- every stream's head (version and hash) against the manifest: a dropped last event is
  invisible to the chain alone but not to this;
- every `CycleSignedOff`: the stream heads it carries are the heads of those streams in the
  bundle at the sign-off's position.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import multiprocessing
import queue
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from csm_contracts.envelope import EventEnvelope
from csm_kernel.hashing import GENESIS_HASH
from csm_kernel.signing import SignatureInvalid, verify_detached
from csm_kernel.verify import BrokenLink, check_link

from .bundle import (
    EVENTS_DIR,
    FORMAT_VERSION,
    JWKS,
    MANIFEST,
    SIGN_OFF_TYPE,
    SIGNATURE,
    STORES,
    StreamTypeCount,
    events_file,
    read_json,
    stream_type,
)

_CHUNK = 1 << 20
#: Below this many events starting processes costs more than it saves.
_PARALLEL_FROM = 200_000


@dataclass
class Check:
    """One line of the report: what was checked, whether it held, and every reason it did not."""

    name: str
    detail: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, reason: str) -> None:
        self.failures.append(reason)


def _short(h: object) -> str:
    return f"{h!s:.12}…" if isinstance(h, str) and len(h) > 12 else repr(h)


def check_signature(bundle: Path, published: Mapping[str, Any] | None) -> list[Check]:
    """The manifest's signature, against the bundle's keys and (if given) the published ones."""
    own = Check("manifest signature (bundle's jwks.json)")
    checks = [own]
    try:
        body = (bundle / MANIFEST).read_bytes()
        jws = (bundle / SIGNATURE).read_text().strip()
        jwks = read_json(bundle / JWKS)
    except (OSError, ValueError) as error:
        own.fail(f"cannot read the manifest, its signature or the keys: {error}")
        return checks
    _check_jws(own, jws, body, jwks)
    if published is None:
        own.detail += " (not checked against published keys: give --jwks)"
    else:
        checks.append(_check_jws(Check("manifest signature (--jwks)"), jws, body, published))
    return checks


def _check_jws(check: Check, jws: str, body: bytes, keys: Any) -> Check:
    if not isinstance(keys, Mapping):
        check.fail('the keys are not a JWK Set (a JSON object with "keys")')
        return check
    try:
        check.detail = f"signed by key {verify_detached(jws, body, keys)}"
    except SignatureInvalid as error:
        check.fail(f"manifest.json is not what was signed: {error}")
    except (ValueError, TypeError, AttributeError) as error:  # a malformed JWK
        check.fail(f"the signature cannot be checked: {type(error).__name__}: {error}")
    return check


def check_manifest(manifest: Any) -> Check:
    check = Check("manifest format")
    if not isinstance(manifest, dict):
        check.fail("manifest.json is not a JSON object")
        return check
    if manifest.get("format_version") != FORMAT_VERSION:
        check.fail(f"format_version {manifest.get('format_version')!r}, expected {FORMAT_VERSION}")
    stores = manifest.get("stores")
    if not isinstance(stores, dict):
        check.fail("the manifest lists no stores")
    else:
        for store in STORES:
            if store not in stores:
                check.fail(f"the manifest has no entry for the {store} store")
        for store, entry in stores.items():
            if store not in STORES:
                check.fail(f"the manifest lists an unknown store {store!r}")
            elif not isinstance(entry, dict) or entry.get("file") != events_file(store):
                check.fail(f"the {store} store's file is not {events_file(store)}")
    check.detail = f"scope {manifest.get('scope')}, created {manifest.get('created_at')}"
    return check


def check_file(bundle: Path, store: str, entry: Mapping[str, Any]) -> Check:
    check = Check(f"{store}: file")
    path = bundle / str(entry.get("file"))
    if not path.is_file():
        check.fail(f"{entry.get('file')} is missing")
        return check
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    if digest.hexdigest() != entry.get("sha256"):
        check.fail(
            f"{entry.get('file')}: SHA-256 is {digest.hexdigest()}, "
            f"the manifest says {entry.get('sha256')}"
        )
    if size != entry.get("bytes"):
        check.fail(f"{entry.get('file')}: {size} bytes, the manifest says {entry.get('bytes')}")
    check.detail = f"{entry.get('file')}, {size:,} bytes, SHA-256 {digest.hexdigest()[:12]}…"
    return check


def _envelope(ev: dict[str, Any]) -> EventEnvelope:
    """The stored event a line holds, typed as the kernel hashed it."""
    return EventEnvelope.trusted(
        event_id=UUID(ev["event_id"]),
        type=ev["type"],
        version=ev["version"],
        occurred_at=datetime.fromisoformat(ev["occurred_at"]),
        stream_id=ev["stream_id"],
        stream_version=ev["stream_version"],
        key=ev["key"],
        correlation_id=ev["correlation_id"],
        causation_id=ev["causation_id"],
        actor=ev["actor"],
        data=ev["data"],
        prev_hash=ev["prev_hash"],
        hash=ev["hash"],
        position=ev["position"],
    )


@dataclass
class _StoreScan:
    """What reading one store's events found."""

    events: Check
    chains: Check
    heads: Check
    sign_offs: Check
    count: int = 0
    first: int | None = None
    last: int | None = None
    streams: dict[str, tuple[int, str]] = field(default_factory=dict)
    broken: dict[str, BrokenLink] = field(default_factory=dict)
    per_type: dict[str, StreamTypeCount] = field(default_factory=dict)
    sign_off_count: int = 0


def _check_sign_off(scan: _StoreScan, ev: EventEnvelope) -> None:
    scan.sign_off_count += 1
    recorded = ev.data.get("stream_heads")
    where = f"sign-off {ev.stream_id} version {ev.stream_version} (position {ev.position})"
    if not isinstance(recorded, dict):
        scan.sign_offs.fail(f"{where} carries no stream_heads")
        return
    for stream_id, hash_ in sorted(recorded.items()):
        if stream_id in scan.broken:
            scan.sign_offs.fail(f"{where}: {stream_id} cannot be checked: its chain is broken")
            continue
        head = scan.streams.get(stream_id)
        if head is None:
            scan.sign_offs.fail(
                f"{where} records {stream_id} at {_short(hash_)}, but the bundle has no event "
                "of that stream before the sign-off"
            )
        elif head[1] != hash_:
            scan.sign_offs.fail(
                f"{where} records {stream_id} at {_short(hash_)}, but in the bundle that "
                f"stream stood at version {head[0]} ({_short(head[1])}) when it was signed off"
            )


def _scan_line(scan: _StoreScan, line: bytes, number: int) -> None:
    try:
        raw = json.loads(line)
        ev = _envelope(raw)
        position = int(raw["position"])
        stream_id, stream_version = str(ev.stream_id), int(ev.stream_version)
    except (ValueError, KeyError, TypeError) as error:
        scan.events.fail(f"line {number} is not a stored event: {type(error).__name__}: {error}")
        return
    if scan.last is not None and position <= scan.last:
        scan.events.fail(f"line {number}: position {position} does not follow {scan.last}")
    scan.count += 1
    scan.first = position if scan.first is None else scan.first
    scan.last = position
    counts = scan.per_type.setdefault(stream_type(stream_id), {"streams": 0, "events": 0})
    counts["events"] += 1
    if stream_version == 1:
        counts["streams"] += 1
    if stream_id not in scan.broken:
        version, prev = scan.streams.get(stream_id, (0, GENESIS_HASH))
        try:
            link = check_link(ev, version, prev)
        except (TypeError, ValueError, AttributeError) as error:
            link = BrokenLink(stream_id, stream_version, f"malformed event: {error}")
        if link is None:
            scan.streams[stream_id] = (stream_version, ev.hash)
        else:
            scan.broken[stream_id] = link
            scan.chains.fail(
                f"stream {link.stream_id} version {link.stream_version}: {link.reason}"
            )
    if ev.type == SIGN_OFF_TYPE:
        _check_sign_off(scan, ev)


def scan_store(
    bundle: Path,
    store: str,
    entry: Mapping[str, Any],
    on_rows: Callable[[int], None] | None = None,
) -> list[Check]:
    """Read a store's events once: counts, chains, sign-offs, then heads against the manifest."""
    scan = _StoreScan(
        events=Check(f"{store}: events"),
        chains=Check(f"{store}: hash chains"),
        heads=Check(f"{store}: stream heads"),
        sign_offs=Check(f"{store}: sign-offs"),
    )
    path = bundle / str(entry.get("file"))
    number = 0
    try:
        with gzip.open(path, "rb") as lines:
            for number, line in enumerate(lines, start=1):
                _scan_line(scan, line, number)
                if on_rows is not None and number % 10_000 == 0:
                    on_rows(10_000)
    except (OSError, EOFError, zlib.error) as error:
        scan.events.fail(f"{entry.get('file')} cannot be read past line {number}: {error}")
    if on_rows is not None:
        on_rows(number % 10_000)
    _compare_counts(scan, entry)
    _compare_heads(scan, entry)
    scan.chains.detail = (
        f"{len(scan.streams) + len(scan.broken):,} streams, {len(scan.broken)} broken"
    )
    checks = [scan.events, scan.chains, scan.heads]
    if scan.sign_off_count or store == "questionnaire":
        scan.sign_offs.detail = f"{scan.sign_off_count:,} sign-offs' stream heads"
        checks.append(scan.sign_offs)
    return checks


def _compare_counts(scan: _StoreScan, entry: Mapping[str, Any]) -> None:
    found = {"events": scan.count, "first_position": scan.first, "last_position": scan.last}
    for name, value in found.items():
        if entry.get(name) != value:
            scan.events.fail(f"{name} is {value}, the manifest says {entry.get(name)}")
    if entry.get("stream_types") != scan.per_type:
        scan.events.fail(
            f"streams per type are {json.dumps(scan.per_type, sort_keys=True)}, "
            f"the manifest says {json.dumps(entry.get('stream_types'), sort_keys=True)}"
        )
    scan.events.detail = f"{scan.count:,} events, positions {scan.first} to {scan.last}"


def _compare_heads(scan: _StoreScan, entry: Mapping[str, Any]) -> None:
    recorded = entry.get("stream_heads")
    if not isinstance(recorded, dict):
        scan.heads.fail("the manifest records no stream heads")
        return
    for stream_id in sorted(recorded.keys() | scan.streams.keys()):
        head, want = scan.streams.get(stream_id), recorded.get(stream_id)
        if stream_id in scan.broken:
            continue  # reported with its chain
        if want is None:
            scan.heads.fail(f"stream {stream_id} is in the events but not in the manifest")
        elif head is None:
            scan.heads.fail(f"stream {stream_id} is in the manifest but has no events")
        elif isinstance(want, dict) and (want.get("version"), want.get("hash")) != head:
            scan.heads.fail(
                f"stream {stream_id} ends at version {head[0]} ({_short(head[1])}), "
                f"the manifest says version {want.get('version')} ({_short(want.get('hash'))})"
            )
    scan.heads.detail = f"{len(recorded):,} streams' heads"


def verify_store(
    bundle: Path, store: str, entry: Mapping[str, Any], on_rows: Callable[[int], None] | None
) -> list[Check]:
    """A store's checks: its file, then what reading its events finds."""
    checks = [check_file(bundle, store, entry)]
    if (bundle / str(entry.get("file"))).is_file():
        checks.extend(scan_store(bundle, store, entry, on_rows))
    return checks


_worker_progress: Any = None


def _init_worker(progress: Any) -> None:
    global _worker_progress
    _worker_progress = progress


def _verify_in_worker(bundle: Path, store: str, entry: Mapping[str, Any]) -> list[Check]:
    return verify_store(bundle, store, entry, _worker_progress.put)


def _verify_stores(
    bundle: Path,
    jobs: list[tuple[str, dict[str, Any]]],
    workers: int,
    meanwhile: Callable[[], list[Check]],
    on_rows: Callable[[int], None] | None,
) -> tuple[list[Check], list[Check]]:
    """(what `meanwhile` returned, every store's checks in `jobs` order): the stores checked
    by `workers` processes, each store in one (a chain is checked in order, by one reader)."""
    if workers <= 1 or len(jobs) <= 1 or sum(_events(e) for _, e in jobs) < _PARALLEL_FROM:
        first = meanwhile()
        return first, [
            c for store, entry in jobs for c in verify_store(bundle, store, entry, on_rows)
        ]
    context = multiprocessing.get_context("spawn")
    progress = context.Queue()
    with ProcessPoolExecutor(
        min(workers, len(jobs)), mp_context=context, initializer=_init_worker, initargs=(progress,)
    ) as pool:
        # The biggest store first, so the others share the remaining workers.
        by_size = sorted(jobs, key=lambda job: -_events(job[1]))
        futures = {
            store: pool.submit(_verify_in_worker, bundle, store, entry) for store, entry in by_size
        }
        first = meanwhile()
        while not all(f.done() for f in futures.values()) or not progress.empty():
            try:
                rows = progress.get(timeout=0.2)
            except queue.Empty:
                continue
            if on_rows is not None:
                on_rows(rows)
        return first, [c for store, _ in jobs for c in futures[store].result()]


def _events(entry: Mapping[str, Any]) -> int:
    count = entry.get("events")
    return count if isinstance(count, int) else 0


def verify_bundle(
    bundle: Path,
    published: Mapping[str, Any] | None = None,
    on_total: Callable[[int], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
    workers: int = 1,
) -> list[Check]:
    """Every check of the bundle directory, in report order. With `workers` > 1 the stores are
    read by that many processes at once (the signature is checked meanwhile)."""
    try:
        manifest = read_json(bundle / MANIFEST)
    except (OSError, ValueError) as error:
        bad = Check("manifest format")
        bad.fail(f"cannot read manifest.json: {error}")
        return [*check_signature(bundle, published), bad]
    format_check = check_manifest(manifest)
    stores = manifest.get("stores") if isinstance(manifest, dict) else None
    if not isinstance(stores, dict):
        return [*check_signature(bundle, published), format_check]
    listed = {str(e.get("file")) for e in stores.values() if isinstance(e, dict)}
    present = {p.relative_to(bundle).as_posix() for p in (bundle / EVENTS_DIR).glob("*")}
    if stray := sorted(present - listed):
        format_check.fail(f"files not in the manifest: {', '.join(stray)}")
    # Only the stores the format knows, each at its own path, never one the manifest chose
    # (a wrong or unknown one is reported by the format check).
    jobs = [
        (store, {**entry, "file": events_file(store)})
        for store in STORES
        if isinstance(entry := stores.get(store), dict)
    ]
    if on_total is not None:
        on_total(sum(_events(entry) for _, entry in jobs))
    signature, store_checks = _verify_stores(
        bundle, jobs, workers, lambda: check_signature(bundle, published), on_rows
    )
    return [*signature, format_check, *store_checks]
