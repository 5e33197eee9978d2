"""Reading an audit bundle for the replay: its manifest checked (signature, each store file's
SHA-256 and size), then each store's events streamed in position order as envelopes.

The bundle (written by `csm-audit export`):

    manifest.json   canonical JSON: format, scope, per store {file, sha256, bytes, count,
                    first/last position}, counts per stream type, stream heads
    manifest.jws    a detached JWS over manifest.json's bytes (csm_kernel.signing)
    jwks.json       the public keys
    events/<store>.jsonl.gz   one event per line, in position order (the events table's columns)

`write_bundle` writes the same layout from envelopes: the tests and the benchmark build their
bundles with it (the export writes real ones from the stores).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from csm_contracts.envelope import EventEnvelope
from csm_kernel.hashing import canonical_json
from csm_kernel.signing import KeyRing, SignatureInvalid, verify_detached

#: The stores a bundle holds events of.
STORES = ("registration", "questionnaire", "notification")
#: The envelope fields of a line, in the events table's order.
FIELDS = (
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
)


class BundleInvalid(Exception):
    """The bundle is not what its manifest and signature say."""


@dataclass(frozen=True)
class StoreFile:
    """One store's events file as the manifest describes it."""

    store: str
    path: Path
    sha256: str | None
    bytes: int | None
    count: int | None


@dataclass(frozen=True)
class Bundle:
    """An opened bundle: its manifest, the key that signed it, and its store files."""

    root: Path
    manifest: dict[str, Any]
    signed_by: str | None
    stores: dict[str, StoreFile]

    def events(self, store: str) -> Iterator[EventEnvelope]:
        """One store's events, in position order (as the file holds them)."""
        file = self.stores.get(store)
        if file is None:
            return
        previous = 0
        with gzip.open(file.path, "rb") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                envelope = _envelope(_loads(line), file, number)
                position = envelope.position or 0
                if position <= previous:
                    raise BundleInvalid(
                        f"{file.path.name} line {number}: position {position} is not after "
                        f"{previous}: events must be in position order"
                    )
                previous = position
                yield envelope

    def all_events(self) -> dict[str, Iterator[EventEnvelope]]:
        """Every store's events, lazily, by store."""
        return {store: self.events(store) for store in self.stores}


def _loads(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)  # an integer beyond 64 bits, which orjson refuses


def _envelope(row: Any, file: StoreFile, number: int) -> EventEnvelope:
    """The line as an envelope, every field checked; the payload only for being a JSON object
    (the replay checks it against its contract as the consumer does), so pydantic need not copy
    it: that copy was half the cost of reading a national bundle."""
    where = f"{file.path.name} line {number}"
    if not isinstance(row, dict) or not isinstance(row.get("data"), dict):
        raise BundleInvalid(f"{where}: not an event: its data must be a JSON object")
    try:
        checked = EventEnvelope.model_validate({**row, "data": {}})
    except ValueError as exc:
        raise BundleInvalid(f"{where}: not an event: {exc}") from exc
    # The checked envelope takes the payload as read (it is frozen, so not through setattr).
    checked.__dict__["data"] = row["data"]
    return checked


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _store_entries(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The manifest's per-store entries, whether it keeps them by name or as a list."""
    stores = manifest.get("stores", {})
    if isinstance(stores, Mapping):
        return {str(k): v for k, v in stores.items()}
    return {str(s.get("store") or s.get("name")): s for s in stores}


def open_bundle(root: Path, *, check_signature: bool = True) -> Bundle:
    """Open the bundle at `root`: the manifest's signature checked against the bundle's JWK
    Set, and each store file's size and SHA-256 against the manifest. `BundleInvalid` if
    anything does not match."""
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise BundleInvalid(f"{root} holds no manifest.json: not a bundle")
    raw = manifest_path.read_bytes()
    manifest = json.loads(raw)
    signed_by = None
    if check_signature:
        try:
            jws = (root / "manifest.jws").read_text().strip()
            jwks = json.loads((root / "jwks.json").read_text())
            signed_by = verify_detached(jws, raw, jwks)
        except FileNotFoundError as exc:
            raise BundleInvalid(f"the bundle is not signed: {exc.filename} is missing") from exc
        except SignatureInvalid as exc:
            raise BundleInvalid(f"manifest.json's signature does not hold: {exc}") from exc
    stores: dict[str, StoreFile] = {}
    for store, entry in _store_entries(manifest).items():
        if store not in STORES:
            raise BundleInvalid(f"the manifest names a store {store!r} reporting never reads")
        path = root / str(entry.get("file") or f"events/{store}.jsonl.gz")
        if not path.resolve().is_relative_to(root.resolve()) or not path.is_file():
            raise BundleInvalid(f"{store}: {entry.get('file')} is not a file of the bundle")
        file = StoreFile(store, path, entry.get("sha256"), entry.get("bytes"), entry.get("count"))
        if file.bytes is not None and path.stat().st_size != file.bytes:
            raise BundleInvalid(f"{path.name} is {path.stat().st_size} bytes, not {file.bytes}")
        if file.sha256 is not None and _sha256(path) != file.sha256:
            raise BundleInvalid(f"{path.name}'s SHA-256 is not the manifest's")
        stores[store] = file
    return Bundle(root, manifest, signed_by, stores)


def event_line(envelope: EventEnvelope) -> dict[str, Any]:
    """One line of a store file: the envelope as the events table holds it."""
    row = envelope.model_dump(mode="json")
    row["occurred_at"] = envelope.occurred_at.isoformat(timespec="microseconds")
    return {k: row[k] for k in FIELDS}


def write_bundle(
    root: Path, stores: Mapping[str, Iterable[EventEnvelope]], keys: KeyRing | None = None
) -> dict[str, Any]:
    """Write a bundle of these stores' events (each in position order) to `root`, signed
    with `keys` (a new key ring by default); its manifest."""
    (root / "events").mkdir(parents=True, exist_ok=True)
    entries: dict[str, Any] = {}
    types: dict[str, int] = {}
    heads: dict[str, dict[str, Any]] = {}
    for store, events in stores.items():
        path = root / "events" / f"{store}.jsonl.gz"
        count, first, last = 0, None, None
        with gzip.open(path, "wb", compresslevel=1) as out:
            for e in events:
                out.write(orjson.dumps(event_line(e)) + b"\n")
                count += 1
                first = e.position if first is None else first
                last = e.position
                types[e.type] = types.get(e.type, 0) + 1
                heads[e.stream_id] = {"version": e.stream_version, "hash": e.hash}
        entries[store] = {
            "file": f"events/{store}.jsonl.gz",
            "sha256": _sha256(path),
            "bytes": path.stat().st_size,
            "count": count,
            "first_position": first,
            "last_position": last,
        }
    manifest = {
        "format": 1,
        "scope": {"stores": sorted(stores)},
        "stores": entries,
        "types": types,
        "stream_heads": heads,
    }
    raw = canonical_json(manifest).encode()
    (root / "manifest.json").write_bytes(raw)
    keys = keys or KeyRing.generate()
    (root / "manifest.jws").write_text(keys.sign(raw))
    (root / "jwks.json").write_text(json.dumps(keys.jwks()))
    return manifest
