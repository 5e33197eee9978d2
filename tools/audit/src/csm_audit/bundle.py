"""The audit bundle's layout and manifest (docs/audit.md is the specification).

```
<bundle>/
  manifest.json              canonical JSON (sorted keys, compact, UTF-8)
  manifest.jws               detached compact JWS over manifest.json's exact bytes
  jwks.json                  the public keys at export time
  events/<store>.jsonl.gz    one per service store, one JSON object per event, position order
```
"""

from __future__ import annotations

import gzip
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

from csm_kernel.hashing import canonical_json

#: Bumped when a reader of an older bundle would misread a newer one.
FORMAT_VERSION = 1
#: The service stores an export holds, in this order. Reporting's database is a derived copy
#: (rebuilt from these events), so it is not exported.
STORES = ("registration", "questionnaire", "notification")

MANIFEST = "manifest.json"
SIGNATURE = "manifest.jws"
JWKS = "jwks.json"
EVENTS_DIR = "events"

#: Stream kinds whose name is more than one word (`mapping-lead-<organisation>`).
_MULTI_WORD_KINDS = ("mapping-lead-", "service-group-")

#: The event type whose `stream_heads` record the questionnaire streams at a sign-off.
SIGN_OFF_TYPE = "questionnaire.CycleSignedOff"


class StreamHead(TypedDict):
    version: int
    hash: str


class StreamTypeCount(TypedDict):
    streams: int
    events: int


class StoreEntry(TypedDict):
    file: str
    sha256: str
    bytes: int
    events: int
    first_position: int | None
    last_position: int | None
    stream_types: dict[str, StreamTypeCount]
    stream_heads: dict[str, StreamHead]


class Manifest(TypedDict):
    format_version: int
    created_at: str
    scope: str
    exporter: dict[str, str]
    stores: dict[str, StoreEntry]


def events_file(store: str) -> str:
    """The bundle-relative path of a store's events."""
    return f"{EVENTS_DIR}/{store}.jsonl.gz"


def stream_type(stream_id: str) -> str:
    """What kind of stream this is: its id up to the first `-` (`organisation-5A4` ->
    `organisation`, `return-2009-10-5A4` -> `return`), or the two-word kinds
    `mapping-lead` and `service-group`. The platform names streams `<kind>-<id>`."""
    for kind in _MULTI_WORD_KINDS:
        if stream_id.startswith(kind):
            return kind[:-1]
    return stream_id.split("-", 1)[0]


def read_events(bundle: Path, store: str) -> Iterator[dict[str, Any]]:
    """A store's events from a bundle directory, in position order, as the lines hold them
    (check the bundle with `csm_audit.verify` first: this reads, it does not check)."""
    with gzip.open(bundle / events_file(store), "rb") as lines:
        for line in lines:
            yield json.loads(line)


def manifest_bytes(manifest: Manifest) -> bytes:
    """manifest.json's exact bytes: canonical JSON, UTF-8 (what the JWS signs)."""
    return canonical_json(manifest).encode("utf-8")


def write_json(path: Path, value: Any) -> None:
    path.write_bytes(canonical_json(value).encode("utf-8"))


def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def pack(directory: Path, archive: Path) -> None:
    """The bundle directory as one uncompressed tar (its files are already compressed)."""
    with tarfile.open(archive, "w") as tar:
        tar.add(directory, arcname=directory.name)


def unpack(archive: Path, into: Path) -> Path:
    """A tarred bundle extracted under `into`; the bundle directory inside it."""
    with tarfile.open(archive) as tar:
        # The data filter refuses absolute paths, links out of the tree and device files.
        tar.extractall(into, filter="data")
    found = [p.parent for p in into.rglob(MANIFEST)]
    if len(found) != 1:
        raise ValueError(f"{archive} holds {len(found)} manifests; a bundle has exactly one")
    return found[0]
